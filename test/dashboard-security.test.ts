/**
 * The security of the dashboard's local web page (issue 16 item 4), with raw HTTP against a
 * real daemon (its API thread and the real CLI): the Host check (DNS rebinding), the Origin
 * check (CSRF) for changes made with the cookie, the token traded for a cookie that is not
 * the token and dies with it, 401 without either, the bound on event streams, the headers,
 * and no token in the daemon's log after all of it.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { test, type TestContext } from 'node:test';
import { API_ADDR_ENV } from '../src/core/api-addr.ts';
import { MAX_EVENT_STREAMS } from '../src/daemon/api/dashboard.ts';
import { apiAccess, cliThatSucceeds } from './support/api.ts';
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
  const out = await cli(
    'job',
    'submit',
    '--name',
    'door',
    '--interval',
    '1d',
    '--start',
    '2099-01-01T00:00:00Z',
    '--no-scope',
    '--action-url',
    ap.runUrl,
    '--action-body',
    '{"body": {}}',
    '--format',
    'json',
  );
  const jobId = (JSON.parse(out) as { job_id: string }).job_id;
  return { daemon, cli, env, url, token, port, jobId };
}

/** The session cookie (`name=value`) the token is traded for. */
async function sessionCookie(url: string, token: string, host: string): Promise<string> {
  const r = await request(url, 'GET', `/?token=${encodeURIComponent(token)}`, { host });
  assert.equal(r.status, 303);
  const set = r.headers['set-cookie']?.[0] ?? '';
  return set.slice(0, set.indexOf(';'));
}

test('the door: Host, Origin, cookie and token, rotation, the stream bound, headers, and no token in the log', { timeout: 60_000 }, async (t) => {
  const { daemon, cli, env, url, token, port, jobId } = await daemonWithApi(t);
  const host = `127.0.0.1:${port}`;
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
  assert.match(setCookie, /^globus_timer_session=[\w-]{43}; HttpOnly; SameSite=Strict; Path=\/$/);
  assert.ok(!setCookie.includes(token));
  const cookie = setCookie.slice(0, setCookie.indexOf(';'));
  // The cookie value is not a bearer token.
  assert.equal((await request(url, 'GET', '/jobs/', { host, Authorization: `Bearer ${cookie.split('=')[1]}` })).status, 401);

  // With the cookie: the page, its files, the JSON, with the headers that keep it to itself.
  const html = await request(url, 'GET', '/', { host, cookie });
  assert.equal(html.status, 200);
  assert.ok(!html.body.includes(token), 'no token in the HTML');
  for (const r of [html, await request(url, 'GET', '/dashboard/api/runs', { host, cookie }), await request(url, 'GET', '/jobs/', { host, cookie })]) {
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

  // `globus-timer dashboard` without a desktop (or with --print) prints the URL that makes the session.
  const printed = (await cli('dashboard', '--print')).trim();
  assert.equal(printed, `${url}/?token=${rotated}`);
  assert.equal((JSON.parse(await cli('dashboard', '--print', '--format', 'json')) as { url: string }).url, printed);
  const { DISPLAY: _d, WAYLAND_DISPLAY: _w, ...headless } = env;
  const noDesktop = await runCliProcess(['dashboard'], headless);
  assert.equal(noDesktop.code, 0, noDesktop.stderr);
  assert.equal(noDesktop.stdout.trim(), printed);
  assert.equal((await request(url, 'GET', new URL(printed).pathname + new URL(printed).search, { host })).status, 303);

  // Nothing of either token, nor of a cookie, in the daemon's log (debug level: every request is in it).
  await daemon.stop();
  const log = daemon.log();
  assert.match(log, /"api request"/, 'requests were logged');
  for (const secret of [token, rotated, cookie.split('=')[1]!, fresh.split('=')[1]!]) assert.ok(!log.includes(secret), 'a secret in the log');
  assert.ok(!/token=/.test(log), 'no token= in the log');
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
  const { url, token } = await apiAccess(cli);
  const host = new URL(url).host;
  const cookie = await sessionCookie(url, token, host);
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
