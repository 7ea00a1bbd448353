/**
 * Issue 14, the CLI side of the REST API, with real processes: `daemon run|start --api`
 * (loopback only, checked before anything starts), GLOBUS_TIMER_API_ADDR, `api url`,
 * `api token`, and the `API:` line of `daemon status`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { API_ADDR_ENV } from '../src/core/api-addr.ts';
import { ROOT, runCliProcess, tempHome, type CliResult } from './support/env.ts';

/**
 * A home whose daemon (if a test starts one) is stopped afterwards: the stop is added before
 * tempHome() adds the removal of the home, since after-hooks run in the order added. No
 * GLOBUS_TIMER_API_ADDR from the shell running the tests, and no autostart unless a test asks.
 */
function home(t: TestContext) {
  let env: NodeJS.ProcessEnv = {};
  t.after(async () => {
    await runCliProcess(['daemon', 'stop'], env);
  });
  const h = tempHome(t);
  env = { ...h.env, GLOBUS_TIMER_NO_AUTOSTART: '1' };
  delete env[API_ADDR_ENV];
  return { ...h, env };
}

function assertExit(r: CliResult, code: number, what: string): void {
  assert.equal(r.code, code, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

/** Nothing was started or written: the home is as tempHome() made it. */
function assertNothingStarted(homeDir: string, what: string): void {
  assert.deepEqual(fs.readdirSync(homeDir), [], `${what} left files behind: a daemon was started`);
}

const LOOPBACK_ONLY =
  /^globus-timer: invalid --api "([^"]+)": the API listens on loopback only \(127\.0\.0\.1 or ::1\); (?:.*hosted Globus Timers service|give the address itself, not a name .*)\n$/;

test('--api off loopback (0.0.0.0, localhost, 10.x) is exit 2 from daemon start and daemon run, before anything starts', async (t) => {
  const { env, home: dir } = home(t);
  for (const cmd of [
    ['daemon', 'start'],
    ['daemon', 'run'],
  ]) {
    for (const addr of ['0.0.0.0:80', 'localhost:1', '10.0.0.1:8080']) {
      const r = await runCliProcess([...cmd, '--api', addr], env);
      const what = `${cmd.join(' ')} --api ${addr}`;
      assertExit(r, 2, what);
      assert.match(r.stderr, LOOPBACK_ONLY, what);
      assert.equal(LOOPBACK_ONLY.exec(r.stderr)?.[1], addr);
      assert.equal(r.stdout, '');
      assertNothingStarted(dir, what);
    }
  }
  // Not an address at all: the same exit, saying what to give.
  const bad = await runCliProcess(['daemon', 'start', '--api', '127.0.0.1:99999'], env);
  assertExit(bad, 2, '--api 127.0.0.1:99999');
  assert.match(bad.stderr, /^globus-timer: invalid --api "127\.0\.0\.1:99999": give HOST:PORT on loopback, e\.g\. 127\.0\.0\.1:8080/);
  // --format json: the error document, code INVALID_INPUT.
  const json = await runCliProcess(['daemon', 'start', '--api', '0.0.0.0:80', '--format', 'json'], env);
  assertExit(json, 2, 'as JSON');
  assert.equal((JSON.parse(json.stdout) as { error: { code: string } }).error.code, 'INVALID_INPUT');
  assertNothingStarted(dir, 'daemon start --format json');
});

test('a bad GLOBUS_TIMER_API_ADDR is exit 2 from daemon start, naming the variable; nothing starts', async (t) => {
  const { env, home: dir } = home(t);
  for (const value of ['0.0.0.0:8080', 'nonsense']) {
    const r = await runCliProcess(['daemon', 'start'], { ...env, [API_ADDR_ENV]: value });
    assertExit(r, 2, `${API_ADDR_ENV}=${value}`);
    assert.match(r.stderr, new RegExp(`^globus-timer: invalid ${API_ADDR_ENV} "${value}": `));
    assertNothingStarted(dir, `${API_ADDR_ENV}=${value}`);
  }
  // --api wins over the variable: the variable is not looked at.
  const r = await runCliProcess(['daemon', 'start', '--api', '0.0.0.0:1'], { ...env, [API_ADDR_ENV]: 'nonsense' });
  assert.match(r.stderr, /invalid --api "0\.0\.0\.0:1"/);
});

test('API off: api url is exit 1 saying how to turn it on, api token exit 1, daemon status shows API: off', async (t) => {
  const { env } = home(t);
  // No daemon, no autostart: the usual "not running".
  const none = await runCliProcess(['api', 'url'], env);
  assertExit(none, 1, 'api url, no daemon');
  assert.match(none.stderr, /daemon not running/);

  assertExit(await runCliProcess(['daemon', 'start'], env), 0, 'daemon start');
  const url = await runCliProcess(['api', 'url'], env);
  assertExit(url, 1, 'api url, API off');
  assert.match(
    url.stderr,
    /^globus-timer: the daemon \(pid \d+\) serves no REST API: it was started without --api; restart it with one: globus-timer daemon stop && globus-timer daemon start --api 127\.0\.0\.1:8080\n$/,
  );
  const urlJson = await runCliProcess(['api', 'url', '--format', 'json'], env);
  assertExit(urlJson, 1, 'api url --format json, API off');
  assert.equal((JSON.parse(urlJson.stdout) as { error: { code: string } }).error.code, 'API_OFF');

  const token = await runCliProcess(['api', 'token'], env);
  assertExit(token, 1, 'api token, never started with --api');
  assert.match(
    token.stderr,
    /^globus-timer: no REST API token in .*api-token yet: the daemon creates it when it starts with the API: globus-timer daemon start --api 127\.0\.0\.1:8080\n$/,
  );

  const status = await runCliProcess(['daemon', 'status'], env);
  assertExit(status, 0, 'daemon status');
  assert.match(status.stdout, /^API: +off$/m);
  const statusJson = JSON.parse((await runCliProcess(['daemon', 'status', '--format', 'json'], env)).stdout) as Record<string, unknown>;
  assert.equal(statusJson.api_url, null);

  // Asking for the API from a daemon that runs without it: the address is fixed at start, so exit 1 with the restart.
  const want = await runCliProcess(['daemon', 'start', '--api', '127.0.0.1:0'], env);
  assertExit(want, 1, 'daemon start --api while one runs without it');
  assert.match(
    want.stderr,
    /^globus-timer: a daemon is already running \(pid \d+\) and serves no REST API; .*globus-timer daemon stop && globus-timer daemon start --api 127\.0\.0\.1:0\n$/,
  );
});

test('daemon start --api 127.0.0.1:0: api url prints the bound URL, api token the token (kept across restarts), daemon status the API line', async (t) => {
  const { env, paths } = home(t);
  const start = await runCliProcess(['daemon', 'start', '--api', '127.0.0.1:0'], env);
  assertExit(start, 0, 'daemon start --api');
  assert.match(
    start.stdout,
    /^globus-timer daemon started \(pid \d+\); logs: .*; REST API: http:\/\/127\.0\.0\.1:\d+ \(its token: globus-timer api token\)\n$/,
  );

  const url = await runCliProcess(['api', 'url'], env);
  assertExit(url, 0, 'api url');
  const base = url.stdout.trim();
  assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.notEqual(new URL(base).port, '0', 'the bound port, not the 0 asked for');
  assert.deepEqual(JSON.parse((await runCliProcess(['api', 'url', '--format', 'json'], env)).stdout), { url: base });

  const tokenRun = await runCliProcess(['api', 'token'], env);
  assertExit(tokenRun, 0, 'api token');
  const token = tokenRun.stdout.trim();
  assert.match(token, /^[A-Za-z0-9_-]{43}$/, '256 bits, base64url');
  assert.deepEqual(JSON.parse((await runCliProcess(['api', 'token', '--format', 'json'], env)).stdout), { token });
  assert.equal(fs.statSync(paths.apiTokenFile).mode & 0o777, 0o600);

  // The token is the one the server takes (the routes behind it: the next test).
  const refused = await fetch(`${base}/jobs/`, { headers: { Authorization: 'Bearer wrong' } });
  assert.equal(refused.status, 401);
  const accepted = await fetch(`${base}/jobs/`, { headers: { Authorization: `Bearer ${token}` } });
  assert.notEqual(accepted.status, 401);

  const status = await runCliProcess(['daemon', 'status'], env);
  assert.match(status.stdout, new RegExp(`^API: +${base.replaceAll('.', '\\.')}$`, 'm'));
  const statusJson = JSON.parse((await runCliProcess(['daemon', 'status', '--format', 'json'], env)).stdout) as Record<string, unknown>;
  assert.equal(statusJson.api_url, base);

  // Running already: the same request (port 0: any port) is fine, another address is not.
  const again = await runCliProcess(['daemon', 'start', '--api', '127.0.0.1:0', '--format', 'json'], env);
  assertExit(again, 0, 'daemon start --api again');
  assert.equal((JSON.parse(again.stdout) as { api_url: string }).api_url, base);
  assertExit(await runCliProcess(['daemon', 'start'], env), 0, 'daemon start without --api while it serves one');
  const other = await runCliProcess(['daemon', 'start', '--api', '127.0.0.2:8080'], env);
  assertExit(other, 1, 'daemon start --api at another address');
  assert.match(
    other.stderr,
    new RegExp(`serves the REST API at ${base.replaceAll('.', '\\.')}, not http://127\\.0\\.0\\.2:8080; .*daemon start --api 127\\.0\\.0\\.2:8080\\n$`),
  );

  // The token outlives the daemon: a restart serves the same one (scripts keep it).
  assertExit(await runCliProcess(['daemon', 'stop'], env), 0, 'daemon stop');
  assertExit(await runCliProcess(['daemon', 'start', '--api', '127.0.0.1:0'], env), 0, 'daemon start again');
  assert.equal((await runCliProcess(['api', 'token'], env)).stdout.trim(), token);
});

test('GLOBUS_TIMER_API_ADDR reaches the daemon that autostart starts (here by api url)', async (t) => {
  const { env } = home(t);
  const withVar: NodeJS.ProcessEnv = { ...env, [API_ADDR_ENV]: '127.0.0.1:0' };
  delete withVar.GLOBUS_TIMER_NO_AUTOSTART;
  // `api url` autostarts like the job commands; the daemon it starts serves the API the variable names.
  const url = await runCliProcess(['api', 'url'], withVar);
  assertExit(url, 0, 'api url with autostart');
  assert.match(url.stderr, /started the daemon in the background/);
  assert.match(url.stdout, /^http:\/\/127\.0\.0\.1:\d+\n$/);
});

test('daemon run --api serves the API in the foreground', async (t) => {
  const { env } = home(t);
  const proc = spawn(process.execPath, [path.join(ROOT, 'bin/globus-timer.js'), 'daemon', 'run', '--api', '127.0.0.1:0'], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', resolve));
  t.after(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
  });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    proc.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      if (stderr.includes('"daemon listening"')) resolve();
    });
    void exited.then((code) => reject(new Error(`daemon run --api exited (${code}):\n${stderr}`)));
  });
  const url = await runCliProcess(['api', 'url'], env);
  assertExit(url, 0, 'api url');
  assert.match(url.stdout, /^http:\/\/127\.0\.0\.1:\d+\n$/);
  proc.kill('SIGTERM');
  assert.equal(await exited, 0);
});

test('the URL and token the CLI prints are what a client needs: GET URL/jobs/ with the token is 200', async (t) => {
  const { env } = home(t);
  assertExit(await runCliProcess(['daemon', 'start', '--api', '127.0.0.1:0'], env), 0, 'daemon start --api');
  const [url, token] = await Promise.all([runCliProcess(['api', 'url'], env), runCliProcess(['api', 'token'], env)]);
  const res = await fetch(`${url.stdout.trim()}/jobs/`, { headers: { Authorization: `Bearer ${token.stdout.trim()}` } });
  assert.equal(res.status, 200);
  assert.deepEqual(((await res.json()) as { jobs: unknown[] }).jobs, []);
});

test('api token --rotate: the old token is refused from the next request on (also on an open connection), the new one served; no token in the log', async (t) => {
  const { env } = home(t);
  assertExit(await runCliProcess(['daemon', 'start', '--api', '127.0.0.1:0'], env), 0, 'daemon start --api');
  const url = (await runCliProcess(['api', 'url'], env)).stdout.trim();
  const old = (await runCliProcess(['api', 'token'], env)).stdout.trim();
  // One kept-alive connection for both requests: a rotation must reach it too.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const list = (token: string) => httpGet(`${url}/jobs/`, token, agent);
  const before = await list(old);
  assert.equal(before.status, 200);

  const rotated = await runCliProcess(['api', 'token', '--rotate'], env);
  assertExit(rotated, 0, 'api token --rotate');
  const fresh = rotated.stdout.trim();
  assert.match(fresh, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(fresh, old);
  assert.match(
    rotated.stderr,
    new RegExp(`^globus-timer: new REST API token in .*api-token; the API at ${url.replaceAll('.', '\\.')} takes only it from now on\\n$`),
  );
  assert.equal((await runCliProcess(['api', 'token'], env)).stdout.trim(), fresh, 'api token prints the new token');

  const after = await list(old);
  assert.equal(after.status, 401, 'the old token on the kept-alive connection');
  assert.equal(before.socket, after.socket, 'both requests went over one connection');
  assert.equal((await list(fresh)).status, 200);

  const status = JSON.parse((await runCliProcess(['daemon', 'status', '--format', 'json'], env)).stdout) as { log_file: string | null };
  const log = status.log_file ? fs.readFileSync(status.log_file, 'utf8') : '';
  assert.match(log, /api token rotated/);
  assert.ok(!log.includes(fresh) && !log.includes(old), 'a token reached the log');
});

/** GET with a bearer token over `agent`; the status and which socket carried it. */
function httpGet(url: string, token: string, agent: http.Agent): Promise<{ status: number; socket: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers: { Authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, socket: req.socket }));
    });
    req.on('error', reject);
  });
}

/** The nice value of each thread of `pid` (/proc/PID/task/TID/stat, field 19), or null without /proc. */
function threadNiceValues(pid: number): number[] | null {
  const dir = `/proc/${pid}/task`;
  if (!fs.existsSync(dir)) return null;
  return fs.readdirSync(dir).flatMap((tid) => {
    try {
      const stat = fs.readFileSync(`${dir}/${tid}/stat`, 'utf8');
      // After "pid (comm)": state is field 3, so nice (field 19) is the 17th after the comm.
      return [Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])];
    } catch {
      return []; // a thread that ended meanwhile
    }
  });
}

test('the API runs on a thread of its own at nice 10 (Linux): the firing thread keeps the CPU when the API is busy', async (t) => {
  const { env } = home(t);
  assertExit(await runCliProcess(['daemon', 'start', '--api', '127.0.0.1:0'], env), 0, 'daemon start --api');
  const { pid } = JSON.parse((await runCliProcess(['daemon', 'status', '--format', 'json'], env)).stdout) as { pid: number };
  const nice = threadNiceValues(pid);
  if (nice === null) return t.skip('no /proc here');
  assert.equal(nice.filter((n) => n === 10).length, 1, `one thread at nice 10, the others at 0: ${nice.join(' ')}`);
  assert.ok(nice.filter((n) => n === 0).length >= 1, 'the main thread keeps nice 0');
});
