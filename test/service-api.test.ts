/**
 * `daemon install --api PORT` (issue 14): the Timers REST API as part of the service. The
 * unit texts (a second ListenStream= after the Unix socket's, GLOBUS_TIMER_API_ADDR in
 * Environment=; without --api the units as before), the plist's variable, the flag checked
 * through the real CLI, systemd's own parser, and the daemon serving the API on the socket
 * systemd hands over as fd 4 (refusing one that is not on loopback, and a TCP socket as its
 * fd 3), handed over by a stand-in and by systemd's own systemd-socket-activate.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import test, { type TestContext } from 'node:test';
import { API_ADDR_ENV } from '../src/core/api-addr.ts';
import { ERROR_CODES, TimerError } from '../src/core/errors.ts';
import { inheritedSockets } from '../src/daemon/systemd.ts';
import { planInstall } from '../src/install/plans.ts';
import { launchdPlist, systemdServiceUnit, systemdSocketUnit, type ServiceUnitInput } from '../src/install/units.ts';
import { apiAccess, cliThatSucceeds } from './support/api.ts';
import { freePort, ROOT, runCliProcess, tempHome } from './support/env.ts';
import { EXAMPLE_UNIT_INPUT } from './support/example-units.ts';

const V4 = { host: '127.0.0.1', port: 8765 };
const V6 = { host: '::1', port: 8766 };

/** The lines of a unit that are not comments or blank. */
function settings(text: string): string[] {
  return text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
}

function assertInvalid(fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => err instanceof TimerError && err.code === ERROR_CODES.INVALID_INPUT);
}

// ---------------------------------------------------------------------------------------
// The unit texts

test('socket unit with --api: the Unix socket first (fd 3), then the API port (fd 4); IPv6 in brackets', () => {
  const v4 = settings(systemdSocketUnit({ ...EXAMPLE_UNIT_INPUT, apiAddr: V4 }));
  assert.deepEqual(
    v4.filter((l) => l.startsWith('ListenStream=')),
    ['ListenStream=%t/globus-timer/daemon.sock', 'ListenStream=127.0.0.1:8765'],
  );
  const v6 = settings(systemdSocketUnit({ ...EXAMPLE_UNIT_INPUT, apiAddr: V6 }));
  assert.deepEqual(
    v6.filter((l) => l.startsWith('ListenStream=')),
    ['ListenStream=%t/globus-timer/daemon.sock', 'ListenStream=[::1]:8766'],
  );
  // The API line comes right after the Unix socket's; nothing else is added or moved.
  const without = settings(systemdSocketUnit(EXAMPLE_UNIT_INPUT));
  assert.deepEqual(
    v4.filter((l) => l !== 'ListenStream=127.0.0.1:8765'),
    without,
  );
  assert.equal(v4.indexOf('ListenStream=127.0.0.1:8765'), v4.indexOf('ListenStream=%t/globus-timer/daemon.sock') + 1);
  // Nor do the settings that only matter for other addresses appear (see systemdSocketUnit).
  assert.equal(
    v6.some((l) => /^(BindIPv6Only|FreeBind)=/.test(l)),
    false,
  );
});

test('service unit with --api: GLOBUS_TIMER_API_ADDR in Environment= (after GLOBUS_TIMER_HOME, by name), the rest unchanged', () => {
  const input: ServiceUnitInput = { ...EXAMPLE_UNIT_INPUT, home: '/home/user/timer', environment: { XDG_DATA_HOME: '/d', [API_ADDR_ENV]: '0.0.0.0:1' } };
  const withApi = settings(systemdServiceUnit({ ...input, apiAddr: V4 }));
  assert.deepEqual(
    withApi.filter((l) => l.startsWith('Environment=')),
    ['Environment="GLOBUS_TIMER_HOME=/home/user/timer"', 'Environment="GLOBUS_TIMER_API_ADDR=127.0.0.1:8765"', 'Environment="XDG_DATA_HOME=/d"'],
  );
  assert.ok(settings(systemdServiceUnit({ ...input, apiAddr: V6 })).includes('Environment="GLOBUS_TIMER_API_ADDR=[::1]:8766"'));
  // Only that line differs; a variable of that name in `environment` never gets through.
  const without = settings(systemdServiceUnit(input));
  assert.deepEqual(
    withApi.filter((l) => !l.includes(API_ADDR_ENV)),
    without,
  );
  assert.equal(
    without.some((l) => l.includes(API_ADDR_ENV)),
    false,
  );
  // The sandbox lets the API's address families through and denies no IP (issue 14 item 1).
  assert.ok(withApi.includes('RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6'));
  assert.equal(
    withApi.some((l) => /^(IPAddressDeny|IPAddressAllow|PrivateNetwork)=/.test(l)),
    false,
  );
});

test('without --api the units are byte for byte the example units in systemd/', () => {
  const dir = new URL('../systemd/', import.meta.url);
  assert.equal(systemdServiceUnit({ ...EXAMPLE_UNIT_INPUT, apiAddr: undefined }), fs.readFileSync(new URL('globus-timer.service', dir), 'utf8'));
  assert.equal(systemdSocketUnit({ ...EXAMPLE_UNIT_INPUT, apiAddr: undefined }), fs.readFileSync(new URL('globus-timer.socket', dir), 'utf8'));
});

test('the units refuse an API address a service cannot have: port 0, off loopback', () => {
  for (const apiAddr of [
    { host: '127.0.0.1', port: 0 },
    { host: '0.0.0.0', port: 8765 },
    { host: 'localhost', port: 8765 },
    { host: '127.0.0.1', port: 70_000 },
  ]) {
    assertInvalid(() => systemdSocketUnit({ ...EXAMPLE_UNIT_INPUT, apiAddr }));
    assertInvalid(() => systemdServiceUnit({ ...EXAMPLE_UNIT_INPUT, apiAddr }));
    assertInvalid(() => launchdPlist({ ...EXAMPLE_UNIT_INPUT, apiAddr }));
  }
});

test('plist with --api: GLOBUS_TIMER_API_ADDR in EnvironmentVariables (launchd: the daemon binds the port itself)', () => {
  const text = launchdPlist({ ...EXAMPLE_UNIT_INPUT, home: '/Users/ada/timer', apiAddr: V6 });
  assert.match(
    text,
    /<key>EnvironmentVariables<\/key>\n {2}<dict>\n {4}<key>GLOBUS_TIMER_HOME<\/key>\n {4}<string>\/Users\/ada\/timer<\/string>\n {4}<key>GLOBUS_TIMER_API_ADDR<\/key>\n {4}<string>\[::1\]:8766<\/string>\n {2}<\/dict>/,
  );
  assert.equal(launchdPlist(EXAMPLE_UNIT_INPUT).includes(API_ADDR_ENV), false);
  const parsed = spawnSync('python3', ['-c', 'import json,plistlib,sys; print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))'], {
    input: text,
    encoding: 'utf8',
  });
  if (parsed.status === 0)
    assert.equal((JSON.parse(parsed.stdout) as { EnvironmentVariables: Record<string, string> }).EnvironmentVariables[API_ADDR_ENV], '[::1]:8766');
});

test('planInstall with apiAddr: both files carry it, the plan names the URL and how to reach it; port 0 refused', (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-svc-api-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const env = { HOME: root, XDG_RUNTIME_DIR: '/run/user/1000' };
  const plan = planInstall({ kind: 'systemd', env, uid: 1000, userNamespaces: true, dryRun: true, apiAddr: V4 });
  assert.equal(plan.apiUrl, 'http://127.0.0.1:8765');
  assert.ok(plan.files[0]!.content.includes('\nEnvironment="GLOBUS_TIMER_API_ADDR=127.0.0.1:8765"\n'));
  assert.ok(plan.files[1]!.content.includes('\nListenStream=%t/globus-timer/daemon.sock\n'));
  assert.ok(plan.files[1]!.content.includes('\nListenStream=127.0.0.1:8765\n'));
  assert.ok(plan.notes.some((n) => n.includes('http://127.0.0.1:8765') && n.includes('globus-timer api token')));
  assert.equal(planInstall({ kind: 'systemd', env, uid: 1000, userNamespaces: true, dryRun: true }).apiUrl, null);
  assert.equal(planInstall({ kind: 'launchd', env, uid: 501, dryRun: true, apiAddr: V4 }).apiUrl, 'http://127.0.0.1:8765');
  assertInvalid(() => planInstall({ kind: 'systemd', env, uid: 1000, dryRun: true, apiAddr: { host: '127.0.0.1', port: 0 } }));
  // The variable in the installing shell alone does not reach the service: the user is told.
  const shellOnly = planInstall({ kind: 'systemd', env: { ...env, [API_ADDR_ENV]: '127.0.0.1:8080' }, uid: 1000, userNamespaces: true, dryRun: true });
  assert.equal(shellOnly.apiUrl, null);
  assert.ok(shellOnly.notes.some((n) => n.startsWith(`${API_ADDR_ENV} is set in this shell`)));
  assert.equal(shellOnly.files[0]!.content.includes(API_ADDR_ENV), false);
});

// ---------------------------------------------------------------------------------------
// The CLI flag, through the real CLI

/** A user whose install goes to a temp HOME and XDG_CONFIG_HOME; nothing of the real user's is touched. */
function installEnv(t: TestContext): { env: NodeJS.ProcessEnv; configHome: string } {
  const { env } = tempHome(t);
  const fakeHome = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-home-'));
  t.after(() => fs.rmSync(fakeHome, { recursive: true, force: true }));
  const configHome = path.join(fakeHome, '.config');
  const out: NodeJS.ProcessEnv = { ...env, HOME: fakeHome, XDG_CONFIG_HOME: configHome };
  delete out[API_ADDR_ENV];
  return { env: out, configHome };
}

test('daemon install --api: a bad address or port 0 is exit 2 with one line, and nothing is written', async (t) => {
  const { env, configHome } = installEnv(t);
  const cases: [string, RegExp][] = [
    ['0', /^globus-timer: invalid --api "0": daemon install needs a fixed port, which the service keeps and clients are given, e\.g\. --api 8765\n$/],
    ['127.0.0.1:0', /^globus-timer: invalid --api "127\.0\.0\.1:0": daemon install needs a fixed port/],
    [
      '0.0.0.0:8765',
      /^globus-timer: invalid --api "0\.0\.0\.0:8765": the API listens on loopback only \(127\.0\.0\.1 or ::1\); .*hosted Globus Timers service\n$/,
    ],
    ['localhost:8765', /^globus-timer: invalid --api "localhost:8765": the API listens on loopback only .*not a name/],
    ['[::]:8765', /^globus-timer: invalid --api "\[::\]:8765": the API listens on loopback only/],
    ['70000', /^globus-timer: invalid --api "70000": give HOST:PORT on loopback/],
    ['http', /^globus-timer: invalid --api "http": give HOST:PORT on loopback/],
  ];
  // With --dry-run and without: either way refused before anything is planned or written.
  const runs = cases.flatMap(([value, message]) => [['--dry-run'], []].map((extra) => ({ value, message, extra })));
  const results = await Promise.all(runs.map(({ value, extra }) => runCliProcess(['daemon', 'install', '--systemd', ...extra, '--api', value], env)));
  for (const [i, { value, message, extra }] of runs.entries()) {
    const r = results[i]!;
    const what = `--api ${value} ${extra.join(' ')}`;
    assert.equal(r.code, 2, `${what}: exit ${r.code}\n${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message, what);
    assert.equal(r.stderr.trim().split('\n').length, 1, `${what}: one line`);
    assert.equal(r.stdout, '', what);
  }
  assert.equal(fs.existsSync(configHome), false, 'a refused install wrote something');
  const json = await runCliProcess(['daemon', 'install', '--systemd', '--dry-run', '--api', '0', '--format', 'json'], env);
  assert.equal(json.code, 2);
  assert.equal((JSON.parse(json.stdout) as { error: { code: string } }).error.code, 'INVALID_INPUT');
});

test('daemon install --api PORT --dry-run shows it (text and JSON); the install writes it; uninstall needs nothing new', async (t) => {
  const { env, configHome } = installEnv(t);
  const unitDir = path.join(configHome, 'systemd', 'user');
  const dry = await runCliProcess(['daemon', 'install', '--systemd', '--dry-run', '--api', '8765'], env);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^Note: The service serves the Timers REST API on http:\/\/127\.0\.0\.1:8765 \(the socket unit holds the port/m);
  const plan = JSON.parse((await runCliProcess(['daemon', 'install', '--systemd', '--dry-run', '--api', '[::1]:8766', '--format', 'json'], env)).stdout) as {
    api_url: string | null;
    dry_run: boolean;
  };
  assert.equal(plan.api_url, 'http://[::1]:8766');
  assert.equal(plan.dry_run, true);
  const none = JSON.parse((await runCliProcess(['daemon', 'install', '--systemd', '--dry-run', '--format', 'json'], env)).stdout) as { api_url: string | null };
  assert.equal(none.api_url, null);
  assert.equal(fs.existsSync(configHome), false, 'dry runs wrote nothing');

  const install = await runCliProcess(['daemon', 'install', '--systemd', '--api', '8765'], env);
  assert.equal(install.code, 0, install.stderr);
  const socket = fs.readFileSync(path.join(unitDir, 'globus-timer.socket'), 'utf8');
  assert.deepEqual(
    settings(socket).filter((l) => l.startsWith('ListenStream=')),
    [`ListenStream=${env.GLOBUS_TIMER_HOME}/daemon.sock`, 'ListenStream=127.0.0.1:8765'],
  );
  assert.match(fs.readFileSync(path.join(unitDir, 'globus-timer.service'), 'utf8'), /^Environment="GLOBUS_TIMER_API_ADDR=127\.0\.0\.1:8765"$/m);
  // Installing again without --api takes the API out again: both units change, a restart is printed.
  const off = await runCliProcess(['daemon', 'install', '--systemd'], env);
  assert.equal(off.code, 0, off.stderr);
  assert.match(off.stdout, /^ {2}systemctl --user restart globus-timer\.socket globus-timer\.service$/m);
  assert.equal(fs.readFileSync(path.join(unitDir, 'globus-timer.socket'), 'utf8').includes('8765'), false);
  const uninstall = await runCliProcess(['daemon', 'uninstall', '--systemd', '--dry-run'], env);
  assert.equal(uninstall.code, 0, uninstall.stderr);
  const refused = await runCliProcess(['daemon', 'uninstall', '--systemd', '--dry-run', '--api', '8765'], env);
  assert.equal(refused.code, 2, 'uninstall takes no --api');
});

test('systemd-analyze verify accepts the units with --api (IPv4 and IPv6)', (t) => {
  if (spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status !== 0) return t.skip('systemd-analyze not installed: apt-get install systemd');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-verify-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const runtime = path.join(root, 'runtime');
  fs.mkdirSync(runtime, { mode: 0o700 });
  for (const [i, apiAddr] of [V4, V6].entries()) {
    const configHome = path.join(root, `config-${i}`);
    const plan = planInstall({
      kind: 'systemd',
      env: { HOME: root, XDG_CONFIG_HOME: configHome, XDG_RUNTIME_DIR: runtime },
      uid: 1000,
      userNamespaces: true,
      apiAddr,
    });
    fs.mkdirSync(path.dirname(plan.files[0]!.path), { recursive: true });
    for (const f of plan.files) fs.writeFileSync(f.path, f.content);
    const r = spawnSync('systemd-analyze', ['--user', 'verify', '--man=no', ...plan.files.map((f) => f.path)], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: root, XDG_RUNTIME_DIR: runtime, XDG_CONFIG_HOME: configHome, SYSTEMD_LOG_COLOR: '0' },
      timeout: 30_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '', `warnings from systemd-analyze for ${apiAddr.host}`);
  }
});

// ---------------------------------------------------------------------------------------
// The daemon side: what systemd hands over

test('inheritedSockets: fd 3 the Unix socket, fd 4 the API only when LISTEN_FDS >= 2; the variables are removed', () => {
  const env = (fds: string, pid = '42'): NodeJS.ProcessEnv => ({ LISTEN_PID: pid, LISTEN_FDS: fds, LISTEN_FDNAMES: 'a:b', KEEP: '1' });
  for (const [fds, expected] of [
    ['1', { rpc: 3, api: null }],
    ['2', { rpc: 3, api: 4 }],
    ['3', { rpc: 3, api: 4 }],
    ['0', null],
    ['x', null],
  ] as const) {
    const e = env(fds);
    assert.deepEqual(inheritedSockets(e, 42), expected, `LISTEN_FDS=${fds}`);
    assert.deepEqual(e, { KEEP: '1' }, 'the variables are gone');
  }
  const other = env('2', '41');
  assert.equal(inheritedSockets(other, 42), null, "another process's sockets");
  assert.deepEqual(other, { KEEP: '1' });
  assert.equal(inheritedSockets({}, 42), null);
});

/**
 * What systemd does for the socket unit `daemon install --api` writes: bind the Unix socket
 * and a TCP socket on `host` (port 0: any free one, printed first on stderr), put them at fds
 * 3 and 4 in ListenStream= order, set LISTEN_FDS=2 and LISTEN_PID, and exec the daemon
 * (exec keeps the pid, so LISTEN_PID names it). With NAME_API_ADDR=1 it also sets
 * GLOBUS_TIMER_API_ADDR to the bound address, as the service unit's Environment= does.
 * With SWAP_FDS=1 the TCP socket is fd 3 and the Unix socket fd 4.
 */
const ACTIVATE = [
  'import os, socket, sys',
  'unix_path, host = sys.argv[1], sys.argv[2]',
  'u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); u.bind(unix_path); u.listen(16)',
  "t = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_STREAM)",
  't.bind((host, 0)); t.listen(16)',
  "sys.stderr.write('port %d\\n' % t.getsockname()[1]); sys.stderr.flush()",
  // Copies first: the sockets may already sit at 3 or 4, where dup2 would be a no-op that keeps them close-on-exec.
  'a, b = os.dup(u.fileno()), os.dup(t.fileno())',
  // SWAP_FDS=1: a socket unit with its two ListenStream= lines the other way round.
  "if os.environ.pop('SWAP_FDS', None): a, b = b, a",
  'os.dup2(a, 3, inheritable=True); os.dup2(b, 4, inheritable=True); os.close(a); os.close(b)',
  "os.environ['LISTEN_FDS'] = '2'; os.environ['LISTEN_PID'] = str(os.getpid())",
  "if os.environ.pop('NAME_API_ADDR', None): os.environ['GLOBUS_TIMER_API_ADDR'] = '%s:%d' % ('[%s]' % host if ':' in host else host, t.getsockname()[1])",
  'os.execv(sys.argv[3], sys.argv[3:])',
].join('\n');

interface Activated {
  pid: number;
  port: number;
  /** Resolves once the daemon listens (true) or has exited (false). */
  ready: Promise<boolean>;
  exited: Promise<number | null>;
  stderr(): string;
  stop(): Promise<number | null>;
}

/** A `daemon run` (the real CLI, bin/globus-timer.js) started as systemd would start it with the two sockets. */
async function activatedDaemon(t: TestContext, env: NodeJS.ProcessEnv, socketPath: string, host: string): Promise<Activated> {
  const proc = spawn('python3', ['-c', ACTIVATE, socketPath, host, process.execPath, path.join(ROOT, 'bin/globus-timer.js'), 'daemon', 'run'], {
    env,
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  t.after(() => proc.kill('SIGKILL'));
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  let onPort: (port: number) => void = () => {};
  const portSeen = new Promise<number>((resolve) => (onPort = resolve));
  let onReady: (listening: boolean) => void = () => {};
  const ready = new Promise<boolean>((resolve) => (onReady = resolve));
  proc.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    const m = /^port (\d+)\n/.exec(stderr);
    if (m) onPort(Number(m[1]));
    if (stderr.includes('"daemon listening"')) onReady(true);
  });
  void exited.then(() => {
    onPort(-1);
    onReady(false);
  });
  const port = await portSeen;
  assert.ok(port > 0, `the sockets were not made:\n${stderr}`);
  return {
    pid: proc.pid!,
    port,
    ready,
    exited,
    stderr: () => stderr,
    stop: async () => {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}

function daemonHome(t: TestContext): { env: NodeJS.ProcessEnv; socketPath: string } {
  const { env, paths } = tempHome(t);
  const out: NodeJS.ProcessEnv = { ...env, GLOBUS_TIMER_NO_AUTOSTART: '1' };
  delete out[API_ADDR_ENV];
  return { env: out, socketPath: paths.socketPath };
}

test('socket activation with the API: the daemon serves the REST API on fd 4, with or without GLOBUS_TIMER_API_ADDR', async (t) => {
  const variants = ['GLOBUS_TIMER_API_ADDR names it', 'no GLOBUS_TIMER_API_ADDR', 'GLOBUS_TIMER_API_ADDR names another port', 'IPv6: [::1]'] as const;
  for (const variant of variants) {
    await t.test(variant, async (t) => {
      if (variant === 'IPv6: [::1]' && !(await canListenOn('::1'))) return t.skip('no IPv6 loopback (::1) here');
      const { env, socketPath } = daemonHome(t);
      // The port is any free one here, so the helper names it once bound (NAME_API_ADDR).
      const daemonEnv: NodeJS.ProcessEnv = {
        'GLOBUS_TIMER_API_ADDR names it': { ...env, NAME_API_ADDR: '1' },
        'no GLOBUS_TIMER_API_ADDR': env,
        'GLOBUS_TIMER_API_ADDR names another port': { ...env, [API_ADDR_ENV]: '127.0.0.1:1' },
        'IPv6: [::1]': { ...env, NAME_API_ADDR: '1' },
      }[variant];
      const host = variant === 'IPv6: [::1]' ? '::1' : '127.0.0.1';
      const daemon = await activatedDaemon(t, daemonEnv, socketPath, host);
      assert.equal(await daemon.ready, true, `the daemon did not start:\n${daemon.stderr()}`);
      const base = host === '::1' ? `http://[::1]:${daemon.port}` : `http://127.0.0.1:${daemon.port}`;
      const cli = cliThatSucceeds(env);
      const { url, token } = await apiAccess(cli);
      assert.equal(url, base, 'api url: the port systemd bound');
      const status = JSON.parse(await cli('daemon', 'status', '--format', 'json')) as { pid: number; socket_activated: boolean; api_url: string };
      assert.equal(status.pid, daemon.pid, 'the exec-ed process is the daemon');
      assert.equal(status.socket_activated, true);
      assert.equal(status.api_url, base);
      const accepted = await fetch(`${base}/jobs/`, { headers: { Authorization: `Bearer ${token}` } });
      assert.equal(accepted.status, 200);
      await accepted.arrayBuffer();
      const refused = await fetch(`${base}/jobs/`);
      assert.equal(refused.status, 401);
      await refused.arrayBuffer();
      const warned = daemon.stderr().includes('the REST API serves the port systemd passed, not the one GLOBUS_TIMER_API_ADDR names');
      assert.equal(warned, variant === 'GLOBUS_TIMER_API_ADDR names another port', daemon.stderr());
      assert.equal(await daemon.stop(), 0);
    });
  }
});

test('socket activation: an API socket off loopback (an edited ListenStream=0.0.0.0:PORT) stops the start in one line', async (t) => {
  const { env, socketPath } = daemonHome(t);
  // Its warning would be a line before the refusal; this daemon needs no test providers.
  delete env.GLOBUS_TIMER_ALLOW_HTTP_TOKENS;
  const daemon = await activatedDaemon(t, env, socketPath, '0.0.0.0');
  assert.equal(await daemon.ready, false, 'the daemon listened');
  assert.equal(await daemon.exited, 1);
  const lines = daemon.stderr().trim().split('\n');
  assert.deepEqual(lines.slice(1), [
    `globus-timer: refusing to serve the API on http://0.0.0.0:${daemon.port} (fd 4, passed by systemd): it listens on loopback only (127.0.0.1 or ::1); ` +
      "the socket unit's API line must be ListenStream=127.0.0.1:PORT, as globus-timer daemon install --api PORT writes it",
  ]);
});

/** Whether a TCP socket can listen on `host` here (IPv6 may be off). */
async function canListenOn(host: string): Promise<boolean> {
  const server = net.createServer();
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(0, host, () => resolve(true));
  });
  if (ok) await new Promise<void>((resolve) => server.close(() => resolve()));
  return ok;
}

test("systemd's own socket activation (systemd-socket-activate) with the units' ListenStream= and Environment=: an API request starts the daemon", async (t) => {
  if (spawnSync('systemd-socket-activate', ['--version'], { stdio: 'ignore' }).status !== 0) {
    return t.skip('systemd-socket-activate not installed: apt-get install systemd');
  }
  const { env } = daemonHome(t);
  const port = await freePort();
  const plan = planInstall({
    kind: 'systemd',
    env: { HOME: os.homedir(), GLOBUS_TIMER_HOME: env.GLOBUS_TIMER_HOME },
    uid: 1000,
    userNamespaces: true,
    dryRun: true,
    apiAddr: { host: '127.0.0.1', port },
  });
  const [service, socket] = plan.files.map((f) => settings(f.content));
  const values = (lines: string[], key: string) => lines.filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
  const listen = values(socket!, 'ListenStream');
  assert.deepEqual(listen, [path.join(env.GLOBUS_TIMER_HOME!, 'daemon.sock'), `127.0.0.1:${port}`]);
  // Environment="NAME=VALUE", quoted whole; these values need no unescaping.
  const environment = values(service!, 'Environment').map((v) => v.replace(/^"(.*)"$/, '$1'));
  assert.ok(environment.includes(`${API_ADDR_ENV}=127.0.0.1:${port}`), environment.join());
  const exec = values(service!, 'ExecStart')[0]!;
  assert.doesNotMatch(exec, /["\\%$]/, 'a plain ExecStart here');
  // Like a socket unit, it binds the ListenStream= addresses in order (fds 3 and 4), waits
  // for the first connection on any, then execs the service with LISTEN_FDS/LISTEN_PID and
  // only the environment it is given (-E).
  const proc = spawn('systemd-socket-activate', [...listen.flatMap((l) => ['-l', l]), ...environment.flatMap((e) => ['-E', e]), ...exec.split(' ')], {
    env: { PATH: process.env.PATH, HOME: os.homedir() },
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  t.after(() => proc.kill('SIGKILL'));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  let stderr = '';
  let onListening: () => void = () => {};
  const listening = new Promise<void>((resolve) => (onListening = resolve));
  proc.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    if (stderr.includes(`127.0.0.1:${port} as 4`)) onListening();
  });
  void exited.then(() => onListening());
  await listening;
  assert.match(stderr, new RegExp(`daemon\\.sock as 3\\.\\n.*127\\.0\\.0\\.1:${port} as 4\\.`), stderr);
  assert.doesNotMatch(stderr, /daemon listening/, 'no daemon before the first connection');

  const base = `http://127.0.0.1:${port}`;
  // The first request, with no token yet (the daemon makes it at its first start): it starts the daemon, which answers it.
  const first = await fetch(`${base}/jobs/`);
  assert.equal(first.status, 401, stderr);
  await first.arrayBuffer();
  const cli = cliThatSucceeds(env);
  const { url, token } = await apiAccess(cli);
  assert.equal(url, base);
  const accepted = await fetch(`${base}/jobs/`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(accepted.status, 200);
  await accepted.arrayBuffer();
  const status = JSON.parse(await cli('daemon', 'status', '--format', 'json')) as { pid: number; socket_activated: boolean; api_url: string };
  assert.deepEqual([status.pid, status.socket_activated, status.api_url], [proc.pid, true, base]);
  assert.doesNotMatch(stderr, /serves the port systemd passed, not the one/, 'the unit names the port it holds');
  proc.kill('SIGTERM');
  assert.equal(await exited, 0, stderr);
});

test('socket activation: the sockets the other way round (TCP as fd 3) stop the start: the RPC is never served over TCP', async (t) => {
  const { env, socketPath } = daemonHome(t);
  delete env.GLOBUS_TIMER_ALLOW_HTTP_TOKENS;
  const daemon = await activatedDaemon(t, { ...env, SWAP_FDS: '1' }, socketPath, '127.0.0.1');
  assert.equal(await daemon.ready, false, 'the daemon listened');
  assert.equal(await daemon.exited, 1);
  // The API's socket is taken first (before the RPC's answers): the Unix socket found there is refused.
  assert.deepEqual(daemon.stderr().trim().split('\n').slice(1), [
    "globus-timer: the socket systemd passed as fd 4 for the REST API is not TCP: the socket unit must list the Unix socket's ListenStream= first " +
      "and the API's (127.0.0.1:PORT) second, as globus-timer daemon install --api PORT writes them",
  ]);
});
