/**
 * The daemon as a service, with real processes: `daemon start|status|stop|logs`, CLI
 * autostart (also two CLIs racing), systemd socket activation, and version checks.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { openDb } from '../src/daemon/store/open.ts';
import { isAnswering, RpcClient } from '../src/contract/client.ts';
import { PROTOCOL_VERSION } from '../src/contract/protocol.ts';
import { ROOT, runCliProcess, tempHome, type CliResult } from './support/env.ts';

/**
 * A home whose daemon (if any test starts one) is stopped afterwards. After-hooks run in
 * the order they were added, so the stop is added before tempHome() adds the removal of
 * the home: a stop after the removal finds no socket and leaves the daemon running.
 */
function home(t: TestContext) {
  let env: NodeJS.ProcessEnv = {};
  t.after(async () => {
    await runCliProcess(['daemon', 'stop'], env);
  });
  const h = tempHome(t);
  env = { ...h.env };
  delete env.GLOBUS_TIMER_NO_AUTOSTART;
  return { ...h, env };
}

function pidOf(r: CliResult): number {
  const m = /pid (\d+)/.exec(r.stdout + r.stderr);
  assert.ok(m, `no pid in: ${r.stdout}${r.stderr}`);
  return Number(m[1]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('daemon start, status, stop; start when running; stop when not running', async (t) => {
  const { env, paths } = home(t);
  const notYet = await runCliProcess(['daemon', 'status'], env);
  assert.equal(notYet.code, 3, 'status exits 3 while not running');

  const started = await runCliProcess(['daemon', 'start'], env);
  assert.equal(started.code, 0, started.stderr);
  assert.match(started.stdout, /^globus-timer daemon started \(pid \d+\); logs: .*current\.log/);
  const pid = pidOf(started);
  assert.ok(alive(pid));
  assert.ok(await isAnswering(paths.socketPath));

  const again = await runCliProcess(['daemon', 'start'], env);
  assert.equal(again.code, 0);
  assert.equal(again.stdout.trim(), `globus-timer daemon is already running (pid ${pid})`);

  const status = await runCliProcess(['daemon', 'status'], env);
  assert.equal(status.code, 0);
  assert.match(status.stdout, new RegExp(`^PID: +${pid}$`, 'm'));
  assert.match(status.stdout, /^Log: +.*current\.log$/m);
  assert.match(status.stdout, /^Jobs: +0 loaded/m);
  const json = JSON.parse((await runCliProcess(['daemon', 'status', '--format', 'json'], env)).stdout) as Record<string, unknown>;
  assert.equal(json.running, true);
  assert.equal(json.pid, pid);
  assert.equal(json.protocol_version, PROTOCOL_VERSION);

  const logs = await runCliProcess(['daemon', 'logs', '-n', '5'], env);
  assert.equal(logs.code, 0);
  assert.match(logs.stdout, /INFO.*daemon listening/);
  const rawLogs = await runCliProcess(['daemon', 'logs', '--format', 'json'], env);
  // One JSON document: the array of the pino entries (with -f: one entry per line).
  const entries = JSON.parse(rawLogs.stdout) as unknown[];
  assert.ok(entries.length > 0 && entries.every((e) => typeof e === 'object' && e !== null && 'msg' in e), rawLogs.stdout);
  assert.equal((fs.statSync(path.join(paths.logDir, 'daemon.1.log')).mode & 0o777).toString(8), '600');

  const stopped = await runCliProcess(['daemon', 'stop'], env);
  assert.equal(stopped.code, 0);
  assert.equal(stopped.stdout.trim(), `globus-timer daemon stopped (pid ${pid})`);
  assert.equal(alive(pid), false, 'stop waits until the process has exited');
  assert.equal(fs.existsSync(paths.socketPath), false);

  const none = await runCliProcess(['daemon', 'stop'], env);
  assert.equal(none.code, 0);
  assert.equal(none.stdout.trim(), 'globus-timer daemon is not running');
});

test('autostart: a job command with no daemon starts one, says so on stderr, and works', async (t) => {
  const { env } = home(t);
  const off = await runCliProcess(['job', 'list'], { ...env, GLOBUS_TIMER_NO_AUTOSTART: '1' });
  assert.equal(off.code, 1);
  assert.match(off.stderr, /daemon not running.*globus-timer daemon start/);
  const flagOff = await runCliProcess(['--no-autostart', 'job', 'list'], env);
  assert.equal(flagOff.code, 1);

  const r = await runCliProcess(['job', 'list'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^globus-timer: started the daemon in the background \(pid \d+\)/);
  assert.equal(r.stderr.trim().split('\n').length, 1, 'one line on stderr');
  assert.match(r.stdout, /^Name \| Job ID/);
  const second = await runCliProcess(['job', 'list'], env);
  assert.equal(second.stderr, '', 'the second command finds the running daemon');
});

test('two CLIs autostarting at once end with one daemon', async (t) => {
  const { env } = home(t);
  const [a, b] = await Promise.all([runCliProcess(['job', 'list'], env), runCliProcess(['job', 'list'], env)]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  const status = JSON.parse((await runCliProcess(['daemon', 'status', '--format', 'json'], env)).stdout) as { pid: number };
  // Whoever lost the race reports the winner's pid.
  for (const r of [a, b]) if (r.stderr) assert.equal(pidOf(r), status.pid);
  // The losing daemon may still be loading when both CLIs are done; it must then find the
  // state taken and exit. Wait for that, then exactly one daemon is left for this state.
  let ours: number[] = [];
  for (let i = 0; i < 100; i++) {
    ours = daemonsFor(env.GLOBUS_TIMER_HOME!);
    if (ours.length === 1) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(ours, [status.pid], 'exactly one daemon for this state');
});

/** Pids of `daemon run` processes whose GLOBUS_TIMER_HOME is `home` (Linux /proc). */
function daemonsFor(home: string): number[] {
  const pids = spawnSync('pgrep', ['-f', 'daemon run'], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).map(Number);
  return pids.filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`GLOBUS_TIMER_HOME=${home}`);
    } catch {
      return false;
    }
  });
}

test('socket activation: the daemon serves on a listening socket passed as fd 3', async (t) => {
  const { env, paths } = home(t);
  // The test binds the socket itself (as systemd would) and execs the daemon with it as
  // fd 3; exec keeps the pid, so LISTEN_PID names the daemon process.
  const script = [
    'import os, socket, sys',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)',
    's.bind(sys.argv[1]); s.listen(16)',
    // The socket may already be fd 3, where dup2 is a no-op that keeps it close-on-exec.
    'os.dup2(s.fileno(), 3); os.set_inheritable(3, True)',
    "os.environ['LISTEN_FDS'] = '1'; os.environ['LISTEN_PID'] = str(os.getpid())",
    'os.execv(sys.argv[2], sys.argv[2:])',
  ].join('\n');
  fs.mkdirSync(path.dirname(paths.socketPath), { recursive: true, mode: 0o700 });
  const proc = spawn('python3', ['-c', script, paths.socketPath, process.execPath, '--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), 'daemon', 'run'], {
    env,
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  proc.stderr.setEncoding('utf8').on('data', (c: string) => (log += c));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  t.after(() => proc.kill('SIGKILL'));
  for (let i = 0; i < 400 && !log.includes('daemon listening'); i++) await new Promise((r) => setTimeout(r, 50));
  assert.match(log, /daemon listening/);

  const client = await RpcClient.connect(paths.socketPath);
  const status = await client.call('daemon.status', {});
  client.close();
  assert.equal(status.socket_activated, true);
  assert.equal(status.pid, proc.pid, 'the daemon is the exec-ed process');
  const list = await runCliProcess(['job', 'list'], env);
  assert.equal(list.code, 0);
  assert.equal(list.stderr, '', 'no autostart: the activated daemon answered');

  proc.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.ok(fs.existsSync(paths.socketPath), 'the socket file belongs to systemd: left in place');
});

test('a CLI and a daemon of different protocol versions: a clear message to restart the daemon', async (t) => {
  const { env, paths } = tempHome(t);
  for (const [hello, expected] of [
    [
      { result: { protocol_version: 999, version: '9.9.9', pid: 1 } },
      /running daemon is globus-timer 9\.9\.9, protocol 999.*restart the daemon: globus-timer daemon stop && globus-timer daemon start/,
    ],
    [{ error: { code: -32601, message: 'Method not found' } }, /running daemon is an older globus-timer.*restart the daemon/],
  ] as const) {
    // A daemon of another version, as far as the wire shows: it answers daemon.hello only.
    const server = net.createServer((sock) => {
      sock.setEncoding('utf8');
      sock.on('data', (line: string) => {
        const req = JSON.parse(line.trim()) as { id: number };
        sock.write(JSON.stringify({ jsonrpc: '2.0', id: req.id, ...hello }) + '\n');
      });
    });
    await new Promise<void>((resolve) => server.listen(paths.socketPath, resolve));
    const r = await runCliProcess(['job', 'list'], env);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    assert.equal(r.code, 1);
    assert.match(r.stderr, expected);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
});

test('a daemon of this protocol without a newer method (events, dashboard login, token rotation): one line to restart it', async (t) => {
  const { env, paths } = tempHome(t);
  // The same protocol version as far as daemon.hello goes; every other method unknown, as in a daemon older than them.
  const server = net.createServer((sock) => {
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      for (const line of chunk.split('\n').filter(Boolean)) {
        const req = JSON.parse(line) as { id: number; method: string };
        const answer =
          req.method === 'daemon.hello'
            ? { result: { protocol_version: PROTOCOL_VERSION, version: '0.0.1', pid: 1 } }
            : { error: { code: -32601, message: 'Method not found' } };
        sock.write(`${JSON.stringify({ jsonrpc: '2.0', id: req.id, ...answer })}\n`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(paths.socketPath, resolve));
  t.after(() => server.close());
  for (const [args, method] of [
    [['job', 'watch', '--all'], 'events.subscribe'],
    [['api', 'token', '--rotate'], 'api.rotate_token'],
  ] as const) {
    const r = await runCliProcess([...args], env);
    assert.equal(r.code, 1, args.join(' '));
    assert.equal(
      r.stderr,
      `globus-timer: the running daemon is older than this CLI and has no ${method}; restart it: globus-timer daemon stop && globus-timer daemon start\n`,
    );
  }
});

test('a database migrated by a newer version is refused, not opened', async (t) => {
  const { env, paths } = tempHome(t);
  openDb(paths.dbFile).$client.close();
  const raw = openDb(paths.dbFile).$client;
  raw.prepare('INSERT INTO __drizzle_migrations (hash, created_at) VALUES (?, ?)').run('future', Date.now() + 365 * 86_400_000);
  raw.close();
  const r = await runCliProcess(['daemon', 'run'], env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /globus-timer: database .* was migrated by a newer globus-timer.*upgrade globus-timer/);
  // In the background, `daemon start` reports why it failed, from the daemon's own output.
  const start = await runCliProcess(['daemon', 'start'], env);
  assert.equal(start.code, 1);
  assert.match(start.stderr, /^globus-timer: the daemon did not start \(exit 1\): .*migrated by a newer globus-timer.*; see .*daemon\.out\n$/);
});

test('daemon logs -f prints lines as the daemon writes them', async (t) => {
  const { env } = home(t);
  assert.equal((await runCliProcess(['daemon', 'start'], env)).code, 0);
  const follower = spawn(process.execPath, [path.join(ROOT, 'bin/globus-timer.js'), 'daemon', 'logs', '-f', '-n', '0'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => follower.kill('SIGKILL'));
  let out = '';
  follower.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  // The follower must be reading before the daemon writes: give its start-up time.
  await new Promise((r) => setTimeout(r, 2_000));
  assert.equal((await runCliProcess(['daemon', 'stop'], env)).code, 0); // the daemon logs "daemon stopping"
  for (let i = 0; i < 60 && !out.includes('daemon stopped'); i++) await new Promise((r) => setTimeout(r, 50));
  assert.match(out, /INFO.*daemon stopping/);
  assert.match(out, /INFO.*daemon stopped/);
  assert.doesNotMatch(out, /daemon listening/, '-n 0 prints none of the old lines');
});

test('daemon install writes the units and prints how to enable them; uninstall removes them', async (t) => {
  const { env } = tempHome(t);
  const fakeHome = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-home-'));
  t.after(() => fs.rmSync(fakeHome, { recursive: true, force: true }));
  const userEnv = { ...env, HOME: fakeHome, XDG_CONFIG_HOME: path.join(fakeHome, '.config') };
  const unitDir = path.join(fakeHome, '.config', 'systemd', 'user');

  const dry = await runCliProcess(['daemon', 'install', '--systemd', '--dry-run'], userEnv);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^Would write .*globus-timer\.service$/m);
  assert.equal(fs.existsSync(unitDir), false, 'a dry run writes nothing');

  const install = await runCliProcess(['daemon', 'install', '--systemd'], userEnv);
  assert.equal(install.code, 0, install.stderr);
  assert.match(install.stdout, /^ {2}systemctl --user enable --now globus-timer\.socket globus-timer\.service$/m);
  const service = fs.readFileSync(path.join(unitDir, 'globus-timer.service'), 'utf8');
  assert.match(service, new RegExp(`^ExecStart=${process.execPath.replace(/[/.]/g, '\\$&')} .*bin/globus-timer\\.js daemon run$`, 'm'));
  assert.match(service, new RegExp(`^Environment=.*GLOBUS_TIMER_HOME=${env.GLOBUS_TIMER_HOME}`, 'm'));
  assert.match(fs.readFileSync(path.join(unitDir, 'globus-timer.socket'), 'utf8'), new RegExp(`^ListenStream=${env.GLOBUS_TIMER_HOME}/daemon\\.sock$`, 'm'));

  const json = JSON.parse((await runCliProcess(['daemon', 'install', '--systemd', '--dry-run', '--format', 'json'], userEnv)).stdout) as {
    files: { state: string }[];
  };
  assert.deepEqual(
    json.files.map((f) => f.state),
    ['same', 'same'],
  );

  const uninstall = await runCliProcess(['daemon', 'uninstall', '--systemd'], userEnv);
  assert.equal(uninstall.code, 0, uninstall.stdout + uninstall.stderr);
  assert.match(uninstall.stdout, /^\$ systemctl --user disable --now globus-timer\.socket globus-timer\.service$/m);
  assert.match(uninstall.stdout, /^Removed .*globus-timer\.service$/m);
  assert.equal(fs.existsSync(path.join(unitDir, 'globus-timer.service')), false);
});
