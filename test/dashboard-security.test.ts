/**
 * The security of the dashboard's local web page (issue 16 item 4), with raw HTTP against a
 * real daemon (its API thread and the real CLI): the Host check (DNS rebinding), the Origin
 * check (CSRF) for changes made with the cookie, the token traded for a cookie that is not
 * the token and dies with it, 401 without either, the bound on event streams, the headers,
 * and no token in the daemon's log after all of it.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { API_ADDR_ENV } from '../src/core/api-addr.ts';
import { MAX_EVENT_STREAMS } from '../src/daemon/api/dashboard.ts';
import { startApiServer } from '../src/daemon/api/server.ts';
import { silentLogger } from '../src/log/logger.ts';
import { apiAccess, cliThatSucceeds, submitJob } from './support/api.ts';
import { FAST_POLLING, runCliProcess, startDaemonProcess, tempHome } from './support/env.ts';
import { startFakeProvider } from './support/provider.ts';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request with exactly these headers (node:http adds only Host, which `headers.host` replaces). */
function request(base: string, method: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, method, path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** An event stream held open: its head, the text so far, and a way to close it. */
function openStream(base: string, headers: Record<string, string>): Promise<{ status: number; text: () => string; ended: () => boolean; close: () => void }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, path: '/events', headers, agent: false }, (res) => {
      let text = '';
      let ended = false;
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('error', () => {});
      res.on('close', () => (ended = true));
      resolve({ status: res.statusCode ?? 0, text: () => text, ended: () => ended, close: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
  });
}

async function eventually<T>(what: string, check: () => T | undefined | Promise<T | undefined>, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const got = await check();
    if (got !== undefined) return got;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function daemonWithApi(t: TestContext) {
  const ap = await startFakeProvider();
  t.after(() => ap.close());
  const { env: base } = tempHome(t);
  // Debug level (tempHome's): every request is logged, so the log check covers them all.
  const env: NodeJS.ProcessEnv = { ...base, ...FAST_POLLING, [API_ADDR_ENV]: '127.0.0.1:0', GLOBUS_TIMER_NO_AUTOSTART: '1' };
  const daemon = await startDaemonProcess(t, env);
  const cli = cliThatSucceeds(env);
  const { url, token } = await apiAccess(cli);
  const port = new URL(url).port;
  const jobId = await submitJob(cli, 'door', ap.runUrl);
  return { daemon, cli, env, url, token, port, jobId, ap };
}

/** The raw answer to bytes written on a fresh connection (a request node:http would not send). */
function rawRequest(base: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(port), hostname, () => sock.write(bytes));
    let text = '';
    sock.setEncoding('utf8').on('data', (c: string) => (text += c));
    sock.on('end', () => resolve(text));
    sock.on('error', reject);
  });
}

/** The session cookie (`name=value`) the token is traded for. */
async function sessionCookie(url: string, token: string, host: string): Promise<string> {
  const r = await request(url, 'GET', `/?token=${encodeURIComponent(token)}`, { host });
  assert.equal(r.status, 303);
  const set = r.headers['set-cookie']?.[0] ?? '';
  return set.slice(0, set.indexOf(';'));
}

test('the door: Host, Origin, cookie and token, rotation, the stream bound, headers, and no token in the log', { timeout: 60_000 }, async (t) => {
  const { daemon, cli, env, url, token, port, jobId, ap } = await daemonWithApi(t);
  const host = `127.0.0.1:${port}`;
  const cookieName = `globus_timer_session_${port}`;
  const bearer = { Authorization: `Bearer ${token}` };

  // Host: only the loopback names with our port (DNS rebinding sends the attacker's name).
  for (const bad of [`evil.example:${port}`, `127.0.0.1:${Number(port) + 1}`, `localhost:1`, 'evil.example', `127.0.0.1.nip.io:${port}`]) {
    const r = await request(url, 'GET', '/jobs/', { host: bad, ...bearer });
    assert.equal(r.status, 403, `Host ${bad}`);
    assert.equal((await request(url, 'GET', `/?token=${token}`, { host: bad })).status, 403, `token trade with Host ${bad}`);
  }
  for (const good of [host, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`]) {
    assert.equal((await request(url, 'GET', '/jobs/', { host: good, ...bearer })).status, 200, `Host ${good}`);
  }

  // Neither cookie nor token: 401; at / a page saying what to run, nothing else.
  const page = await request(url, 'GET', '/', { host });
  assert.equal(page.status, 401);
  assert.match(page.headers['content-type'] ?? '', /^text\/html/);
  assert.match(page.body, /globus-timer dashboard/);
  for (const path of ['/jobs/', '/events', '/static/app.js', '/dashboard/api/runs', `/job/${jobId}`]) {
    assert.equal((await request(url, 'GET', path, { host })).status, 401, path);
  }
  // A wrong token: 401 and no cookie.
  const wrong = await request(url, 'GET', `/?token=${token.slice(1)}x`, { host });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.headers['set-cookie'], undefined);

  // The trade: a cookie (not the token) and a redirect to / without the token.
  const trade = await request(url, 'GET', `/?token=${encodeURIComponent(token)}`, { host });
  assert.equal(trade.status, 303);
  assert.equal(trade.headers.location, '/');
  const setCookie = trade.headers['set-cookie']?.[0] ?? '';
  assert.match(setCookie, new RegExp(`^${cookieName}=[\\w-]{43}; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200$`));
  assert.ok(!setCookie.includes(token));
  const cookie = setCookie.slice(0, setCookie.indexOf(';'));
  // The cookie value is not a bearer token.
  assert.equal((await request(url, 'GET', '/jobs/', { host, Authorization: `Bearer ${cookie.split('=')[1]}` })).status, 401);

  // With the cookie: the page, its files, the JSON, with the headers that keep it to itself.
  const html = await request(url, 'GET', '/', { host, cookie });
  assert.equal(html.status, 200);
  assert.ok(!html.body.includes(token), 'no token in the HTML');
  for (const r of [
    html,
    await request(url, 'GET', '/dashboard/api/runs', { host, cookie }),
    await request(url, 'GET', '/dashboard/api/jobs', { host, cookie }),
  ]) {
    assert.match(String(r.headers['content-security-policy']), /^default-src 'self'/);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.headers['cache-control'], 'no-store');
  }
  for (const file of ['/static/app.js', '/static/timeline.js', '/static/app.css', '/static/uPlot.js', '/static/uPlot.css']) {
    const r = await request(url, 'GET', file, { host, cookie });
    assert.equal(r.status, 200, file);
    assert.ok(r.body.length > 100, file);
  }
  assert.equal((await request(url, 'GET', `/job/${jobId}`, { host, cookie })).status, 200);
  assert.equal((await request(url, 'GET', '/static/../package.json', { host, cookie })).status, 404);

  // The cookie opens the dashboard only: the Timers API takes the bearer token (a page on
  // another local port may get this cookie: browsers do not keep cookies apart by port).
  const ours = { host, cookie, origin: `http://${host}` };
  const timersApi: [string, string][] = [
    ['GET', '/jobs/'],
    ['GET', `/jobs/${jobId}`],
    ['POST', '/jobs/'],
    ['PATCH', `/jobs/${jobId}`],
    ['DELETE', `/jobs/${jobId}`],
    ['POST', '/v2/timer'],
    ['GET', '/openapi.json'],
  ];
  for (const [method, path] of timersApi) {
    const r = await request(url, method, path, method === 'GET' ? { host, cookie } : ours);
    assert.equal(r.status, 401, `${method} ${path} with the cookie`);
    assert.equal(r.headers['www-authenticate'], 'Bearer');
  }
  assert.equal((await request(url, 'GET', '/jobs/', { host, ...bearer })).status, 200, 'the bearer token opens it');
  // Cookie tossing: another port's page set a cookie of our name; the browser sends both, ours counts.
  assert.equal((await request(url, 'GET', '/dashboard/api/runs', { host, cookie: `${cookieName}=tossed; ${cookie}` })).status, 200);
  assert.equal((await request(url, 'GET', '/dashboard/api/runs', { host, cookie: `${cookie}; ${cookieName}=tossed` })).status, 200);
  assert.equal((await request(url, 'GET', '/dashboard/api/runs', { host, cookie: `${cookieName}=tossed` })).status, 401);
  // Another port's name (another daemon's dashboard) is not ours.
  const value = cookie.split('=')[1]!;
  assert.equal((await request(url, 'GET', '/dashboard/api/runs', { host, cookie: `globus_timer_session_${Number(port) + 1}=${value}` })).status, 401);
  assert.equal((await request(url, 'GET', '/dashboard/api/runs', { host, cookie: `globus_timer_session=${value}` })).status, 401);
  // The session probe the page makes when its stream fails: 204, nothing else.
  const probe = await request(url, 'GET', '/dashboard/api/session', { host, cookie });
  assert.equal(probe.status, 204);
  assert.equal(probe.body, '');
  assert.equal((await request(url, 'GET', '/dashboard/api/session', { host })).status, 401);

  // A job's on_failure command may hold a secret: the page's JSON says only that there is one.
  const hookedId = await submitJob(cli, 'hooked', ap.runUrl, { flags: ['--on-failure', 'curl -fsS https://hooks.example.org/T0KEN-S3CRET', '--notify'] });
  const jobJson = await request(url, 'GET', `/dashboard/api/jobs/${hookedId}`, { host, cookie });
  assert.equal(jobJson.status, 200, jobJson.body);
  assert.ok(!jobJson.body.includes('S3CRET'), 'no on_failure command in the dashboard JSON');
  assert.deepEqual((JSON.parse(jobJson.body) as { job: { on_failure: unknown } }).job.on_failure, { command_set: true, notify: true });
  const listed = await request(url, 'GET', '/dashboard/api/jobs', { host, cookie });
  assert.equal(listed.status, 200);
  assert.ok(!listed.body.includes('S3CRET'), 'nor in the job list');
  assert.ok(listed.body.includes(hookedId));

  // HTTP/1.0 may leave Host out, but the DNS-rebinding check needs it: 400, as for HTTP/1.1.
  for (const version of ['1.0', '1.1']) {
    const raw = await rawRequest(url, `GET /jobs/ HTTP/${version}\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    assert.match(raw, /^HTTP\/1\.1 400 /, `HTTP/${version} without Host`);
    assert.match(raw, /needs a Host header/);
  }

  // Origin: a change with the cookie needs ours; a foreign one is refused with the token too.
  const pause = `/jobs/${jobId}/pause`;
  const resume = `/jobs/${jobId}/resume`;
  assert.equal((await request(url, 'POST', pause, { host, cookie })).status, 403, 'cookie, no Origin');
  assert.equal((await request(url, 'POST', pause, { host, cookie, origin: 'http://evil.example' })).status, 403, 'cookie, foreign Origin');
  assert.equal((await request(url, 'POST', pause, { host, cookie, origin: `http://evil.example:${port}` })).status, 403);
  assert.equal((await request(url, 'POST', pause, { host, cookie, origin: `https://127.0.0.1:${port}` })).status, 403, 'another scheme');
  assert.equal((await request(url, 'POST', pause, { host, cookie, origin: 'null' })).status, 403, 'an opaque origin');
  assert.equal((await request(url, 'POST', pause, { host, ...bearer, origin: 'http://evil.example' })).status, 403, 'bearer, foreign Origin');
  assert.equal((await request(url, 'GET', '/jobs/', { host, cookie, origin: 'http://evil.example' })).status, 403, 'a read from a foreign Origin');
  const status = async () => (JSON.parse(await cli('job', 'status', jobId, '--format', 'json')) as { status: string }).status;
  assert.equal(await status(), 'loaded', 'nothing refused changed anything');
  assert.equal((await request(url, 'POST', pause, { host, cookie, origin: `http://${host}` })).status, 200, 'cookie, our Origin');
  assert.equal(await status(), 'inactive');
  assert.equal((await request(url, 'POST', resume, { host: `localhost:${port}`, cookie, origin: `http://localhost:${port}` })).status, 200);
  assert.equal((await request(url, 'POST', pause, { host, ...bearer })).status, 200, 'an SDK: bearer, no Origin');
  assert.equal((await request(url, 'POST', resume, { host, ...bearer })).status, 200);
  const runNow = await request(url, 'POST', `/jobs/${jobId}/run`, { host, cookie, origin: `http://${host}` });
  assert.equal(runNow.status, 200, runNow.body);

  // Event streams: bounded; the one past the bound is 503, and a closed one frees its place.
  const streams: Awaited<ReturnType<typeof openStream>>[] = [];
  for (let i = 0; i < MAX_EVENT_STREAMS; i++) {
    const s = await openStream(url, { host, cookie });
    assert.equal(s.status, 200);
    streams.push(s);
  }
  const over = await openStream(url, { host, cookie });
  assert.equal(over.status, 503);
  over.close();
  // Events reach every open stream: a pause through the CLI.
  await cli('job', 'pause', jobId);
  for (const s of streams) await eventually('the job event on every stream', () => (s.text().includes(`"job_id":"${jobId}"`) ? true : undefined));
  streams.pop()!.close();
  const again = await eventually('a freed place', async () => {
    const s = await openStream(url, { host, cookie });
    if (s.status === 200) return s;
    s.close();
    return undefined;
  });
  streams.push(again);

  // A rotated token voids the cookies made from the old one, and ends their open streams.
  await cli('api', 'token', '--rotate');
  const { token: rotated } = await apiAccess(cli);
  assert.notEqual(rotated, token);
  assert.equal((await request(url, 'GET', '/dashboard/api/runs', { host, cookie })).status, 401, 'the old cookie is dead');
  assert.equal((await request(url, 'GET', `/?token=${token}`, { host })).status, 401, 'the old token cannot be traded');
  await eventually('the old streams ended', () => (streams.every((s) => s.ended()) ? true : undefined));
  const fresh = await sessionCookie(url, rotated, host);
  assert.notEqual(fresh, cookie);
  assert.equal((await request(url, 'GET', '/dashboard/api/runs', { host, cookie: fresh })).status, 200);
  for (const s of streams) s.close();

  // `globus-timer dashboard` without a desktop (or with --print) prints a one-time login URL: a code, never the token.
  const printedRun = await runCliProcess(['dashboard', '--print'], env);
  assert.equal(printedRun.code, 0, printedRun.stderr);
  const printed = printedRun.stdout.trim();
  assert.match(printed, new RegExp(`^${url.replaceAll('.', '\\.')}/\\?code=[\\w-]{43}$`));
  assert.ok(!printed.includes(rotated) && !printed.includes(token), 'no token in the URL');
  assert.match(printedRun.stderr, /works once, within 5 minutes/);
  const jsonUrl = (JSON.parse(await cli('dashboard', '--print', '--format', 'json')) as { url: string }).url;
  assert.notEqual(jsonUrl, printed, 'a new code each time');
  const { DISPLAY: _d, WAYLAND_DISPLAY: _w, ...headless } = env;
  const noDesktop = await runCliProcess(['dashboard'], headless);
  assert.equal(noDesktop.code, 0, noDesktop.stderr);
  assert.match(noDesktop.stdout.trim(), /\/\?code=[\w-]{43}$/);
  const pathOf = (u: string) => new URL(u).pathname + new URL(u).search;
  // The code: traded once for a session cookie (303 to /, the code out of the address), then dead.
  const redeemed = await request(url, 'GET', pathOf(printed), { host });
  assert.equal(redeemed.status, 303);
  assert.equal(redeemed.headers.location, '/');
  const codeCookie = (redeemed.headers['set-cookie']?.[0] ?? '').split(';')[0]!;
  assert.match(codeCookie, new RegExp(`^${cookieName}=[\\w-]{43}$`));
  assert.equal((await request(url, 'GET', '/', { host, cookie: codeCookie })).status, 200);
  const reused = await request(url, 'GET', pathOf(printed), { host });
  assert.equal(reused.status, 401, 'a used code');
  assert.match(reused.headers['content-type'] ?? '', /^text\/html/);
  assert.equal(reused.headers['set-cookie'], undefined);
  assert.equal((await request(url, 'GET', `/?code=${'A'.repeat(43)}`, { host })).status, 401, 'an unknown code');
  assert.equal((await request(url, 'GET', '/?code=', { host })).status, 401, 'an empty code');
  assert.equal((await request(url, 'GET', pathOf(jsonUrl), { host: 'evil.example' })).status, 403, 'a code with a foreign Host');
  assert.equal((await request(url, 'GET', pathOf(jsonUrl), { host })).status, 303, 'the foreign try did not use it up');
  // A rotation voids codes not yet used, and the sessions made from codes.
  const unused = (JSON.parse(await cli('dashboard', '--print', '--format', 'json')) as { url: string }).url;
  await cli('api', 'token', '--rotate');
  assert.equal((await request(url, 'GET', pathOf(unused), { host })).status, 401, 'a code from before the rotation');
  assert.equal((await request(url, 'GET', '/dashboard/api/runs', { host, cookie: codeCookie })).status, 401, 'a session from before the rotation');

  // Nothing of either token, nor of a cookie, in the daemon's log (debug level: every request is in it).
  await daemon.stop();
  const log = daemon.log();
  assert.match(log, /"api request"/, 'requests were logged');
  for (const secret of [token, rotated, cookie.split('=')[1]!, fresh.split('=')[1]!, codeCookie.split('=')[1]!])
    assert.ok(!log.includes(secret), 'a secret in the log');
  for (const u of [printed, jsonUrl, unused]) assert.ok(!log.includes(new URL(u).searchParams.get('code')!), 'a login code in the log');
  assert.ok(!/token=|code=/.test(log), 'no token= nor code= in the log');
});

test('globus-timer dashboard with the API off: one line saying how to turn it on; no URL', async (t) => {
  const { env: base } = tempHome(t);
  const env: NodeJS.ProcessEnv = { ...base, GLOBUS_TIMER_NO_AUTOSTART: '1' };
  delete env[API_ADDR_ENV];
  await startDaemonProcess(t, env);
  const r = await runCliProcess(['dashboard', '--print'], env);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(
    r.stderr,
    /^globus-timer: the daemon \(pid \d+\) serves no REST API: it was started without --api; restart it with one: globus-timer daemon stop && globus-timer daemon start --api 127\.0\.0\.1:8080\n$/,
  );
});

test('the built daemon (dist/cli, as installed) serves the dashboard: its page, its files and uPlot from node_modules', { timeout: 60_000 }, async (t) => {
  const { env: base } = tempHome(t);
  const env: NodeJS.ProcessEnv = { ...base, GLOBUS_TIMER_NO_AUTOSTART: '1' };
  delete env[API_ADDR_ENV];
  // `daemon start` runs bin/globus-timer.js: the bundle, with the API thread from dist/cli/api-worker.js.
  const started = await runCliProcess(['daemon', 'start', '--api', '127.0.0.1:0'], env);
  assert.equal(started.code, 0, started.stderr);
  // Stopped here, not in t.after: tempHome's own after-hook runs first and removes the home,
  // and a `daemon stop` that finds no socket there would leave the daemon running.
  try {
    await servesTheDashboard(env);
  } finally {
    await runCliProcess(['daemon', 'stop'], env);
  }
});

async function servesTheDashboard(env: NodeJS.ProcessEnv): Promise<void> {
  const cli = cliThatSucceeds(env);
  const { url } = await apiAccess(cli);
  const host = new URL(url).host;
  // The one-time code, from the built daemon's RPC through the bundle's API thread.
  const login = new URL((JSON.parse(await cli('dashboard', '--print', '--format', 'json')) as { url: string }).url);
  const trade = await request(url, 'GET', login.pathname + login.search, { host });
  assert.equal(trade.status, 303);
  const cookie = (trade.headers['set-cookie']?.[0] ?? '').split(';')[0]!;
  const page = await request(url, 'GET', '/', { host, cookie });
  assert.equal(page.status, 200);
  assert.match(page.body, /<script src="\/static\/app\.js" defer><\/script>/);
  for (const [file, text] of [
    ['/static/app.js', 'createTimeline'],
    ['/static/timeline.js', 'uPlot'],
    ['/static/app.css', 'prefers-color-scheme'],
    ['/static/uPlot.js', 'uPlot'],
    ['/static/uPlot.css', '.uplot'],
  ] as const) {
    const r = await request(url, 'GET', file, { host, cookie });
    assert.equal(r.status, 200, file);
    assert.ok(r.body.includes(text), `${file} is the file it should be`);
  }
}

test('Host: the address the API is bound to counts as ours too (127.0.0.2 is loopback), with its port only', async (t) => {
  const token = 'a'.repeat(43);
  const server = await startApiServer({
    addr: { host: '127.0.0.2', port: 0 },
    token,
    routes: [{ method: 'GET', pattern: '/jobs/', handle: () => ({ status: 200, body: { jobs: [] } }) }],
    log: silentLogger(),
  });
  t.after(() => server.close());
  const { host, port } = new URL(server.url);
  assert.equal(host, `127.0.0.2:${port}`);
  const bearer = { Authorization: `Bearer ${token}` };
  for (const good of [host, `localhost:${port}`, `127.0.0.1:${port}`]) {
    assert.equal((await request(server.url, 'GET', '/jobs/', { host: good, ...bearer })).status, 200, `Host ${good}`);
  }
  for (const bad of [`127.0.0.3:${port}`, `127.0.0.2:${Number(port) + 1}`, '127.0.0.2']) {
    assert.equal((await request(server.url, 'GET', '/jobs/', { host: bad, ...bearer })).status, 403, `Host ${bad}`);
  }
  // A change from the page at that address: its Origin is ours too.
  assert.equal((await request(server.url, 'GET', '/jobs/', { host, origin: `http://${host}`, ...bearer })).status, 200);
});
