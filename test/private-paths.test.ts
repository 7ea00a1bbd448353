/**
 * Issue 11, items 2 and 3: directories, files and sockets another local user could have
 * made, opened up or replaced with a link are refused (SPEC §6), by the real daemon and the
 * real CLI as processes. Ownership by another user is played by chown to uid 65534, which
 * needs root (skipped otherwise); a world-writable directory or a planted link needs none.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import test, { type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { TOKEN_CACHE_FORMAT, TokenCache } from '../src/auth/token-cache.ts';
import { resolvePaths } from '../src/config/paths.ts';
import { openDb } from '../src/daemon/store/open.ts';
import { ERROR_CODES, TimerError } from '../src/core/errors.ts';
import { ROOT, runCliProcess } from './support/env.ts';

const OTHER_UID = 65534; // nobody

type Defer = (cleanup: () => unknown) => void;

/**
 * Clean-ups for one test, run newest first in a single t.after: a daemon is stopped, and a
 * listening socket closed, before the directory holding them is removed.
 */
function cleanups(t: TestContext): Defer {
  const pending: (() => unknown)[] = [];
  t.after(async () => {
    for (const cleanup of pending.reverse()) await cleanup();
  });
  return (cleanup) => pending.push(cleanup);
}

function tempDir(defer: Defer): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-'));
  defer(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** True (and the test skipped) when we cannot chown to another user. */
function needsRoot(t: TestContext): boolean {
  if (process.getuid?.() === 0) return false;
  t.skip('needs root');
  return true;
}

/**
 * The environment of a user with no XDG_RUNTIME_DIR and no GLOBUS_TIMER_HOME, every other
 * XDG directory (and TMPDIR) inside `root`. The paths, as the CLI will resolve them (env-paths
 * reads HOME and XDG_* from the process, so they are spelled out here).
 */
function userEnv(root: string, extra: NodeJS.ProcessEnv = {}) {
  const home = path.join(root, 'home');
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    XDG_DATA_HOME: path.join(root, 'data'),
    XDG_STATE_HOME: path.join(root, 'state'),
    XDG_CONFIG_HOME: path.join(root, 'config'),
    GLOBUS_TIMER_LOG_LEVEL: 'warn',
    ...extra,
  };
  for (const k of ['XDG_RUNTIME_DIR', 'GLOBUS_TIMER_HOME', 'GLOBUS_TIMER_NO_AUTOSTART', 'GLOBUS_TIMER_CLIENT_ID', 'GLOBUS_TIMER_CLIENT_SECRET']) {
    if (!(k in extra)) delete env[k];
  }
  return { env, dataDir: path.join(root, 'data', 'globus-timer') };
}

function homeEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GLOBUS_TIMER_HOME: home, GLOBUS_TIMER_LOG_LEVEL: 'warn' };
  delete env.GLOBUS_TIMER_NO_AUTOSTART;
  return env;
}

/** A listening socket that counts who connects (and hangs up on them): someone else's "daemon". */
async function fakeDaemon(defer: Defer, socketPath: string): Promise<{ connections: () => number }> {
  let connections = 0;
  const server = net.createServer((sock) => {
    connections += 1;
    sock.destroy();
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { connections: () => connections };
}

interface DaemonAttempt {
  code: number | string | null;
  /** stderr lines that are not pino JSON: what a person reads. */
  human: string[];
  /** It got as far as serving (then it was stopped): the refusal did not happen. */
  served: boolean;
}

/**
 * `globus-timer daemon run [args]` once: until it exits, or until it serves (the log says
 * so, or `socketPath` turns into a socket), when it is stopped.
 */
async function runDaemonOnce(env: NodeJS.ProcessEnv, { args = [], socketPath }: { args?: string[]; socketPath?: string } = {}): Promise<DaemonAttempt> {
  const proc = spawn(process.execPath, [path.join(ROOT, 'bin/globus-timer.js'), 'daemon', 'run', ...args], {
    env: { ...env, GLOBUS_TIMER_LOG_LEVEL: 'info' }, // for "daemon listening"
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<number | string | null>((resolve) => proc.on('close', (code, signal) => resolve(code ?? signal)));
  let served = false;
  for (let waitedMs = 0; proc.exitCode === null && proc.signalCode === null && waitedMs < 20_000; waitedMs += 50) {
    served = stderr.includes('"daemon listening"') || (socketPath !== undefined && isSocket(socketPath));
    if (served) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (proc.exitCode === null) proc.kill(served ? 'SIGTERM' : 'SIGKILL');
  const code = await exited;
  return { code, human: stderr.split('\n').filter((l) => l.trim() && !l.startsWith('{')), served };
}

function isSocket(p: string): boolean {
  try {
    return fs.lstatSync(p).isSocket();
  } catch {
    return false;
  }
}

function modeOf(p: string): number {
  return fs.lstatSync(p).mode & 0o7777;
}

/** Stop a daemon a (wrongly) successful command started in the background. */
function stopDaemonAfter(defer: Defer, env: NodeJS.ProcessEnv): void {
  defer(() => runCliProcess(['daemon', 'stop'], env));
}

/** The daemon refused to start, with one line that matches `message`. */
function assertRefused(a: DaemonAttempt, message: RegExp): void {
  assert.equal(a.served, false, `the daemon started: ${a.human.join(' | ')}`);
  assert.equal(a.code, 1);
  assert.equal(a.human.length, 1, a.human.join('\n'));
  assert.match(a.human[0]!, message);
}

/** The CLI refused with one line on stderr that matches `message`, exit 1, nothing on stdout. */
function assertCliRefused(r: { code: number | null; stdout: string; stderr: string }, message: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout, '');
  const lines = r.stderr.split('\n').filter((l) => l.trim());
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, message);
}

test('no XDG_RUNTIME_DIR: the socket is in the user’s own state directory; a planted /tmp socket is never contacted', async (t) => {
  const defer = cleanups(t);
  const root = tempDir(defer);
  // A shared temp dir with what another user planted where the socket used to be
  // (os.tmpdir()/globus-timer-<uid>): a world-writable directory and a listening socket.
  const tmp = path.join(root, 'tmp');
  fs.mkdirSync(tmp);
  fs.chmodSync(tmp, 0o1777);
  const planted = path.join(tmp, `globus-timer-${os.userInfo().uid}`);
  fs.mkdirSync(planted);
  fs.chmodSync(planted, 0o777);
  const fake = await fakeDaemon(defer, path.join(planted, 'daemon.sock'));
  const { env, dataDir } = userEnv(root, { TMPDIR: tmp });
  stopDaemonAfter(defer, env);

  const list = await runCliProcess(['job', 'list', '--format', 'json'], env); // autostarts the daemon
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stderr, /started the daemon in the background/);
  const status = await runCliProcess(['daemon', 'status', '--format', 'json'], env);
  assert.equal(status.code, 0, status.stderr);
  const socketPath = (JSON.parse(status.stdout) as { socket_path: string }).socket_path;
  assert.equal(socketPath, path.join(dataDir, 'daemon.sock'));
  assert.ok(isSocket(socketPath));
  assert.equal(modeOf(dataDir), 0o700);
  assert.equal(fake.connections(), 0, 'the CLI talked to the socket planted in the temp dir');
  assert.deepEqual(fs.readdirSync(planted), ['daemon.sock'], 'nothing of ours in the planted directory');
});

test('someone else’s socket directory under XDG_RUNTIME_DIR: the CLI does not talk to it, nor autostart; the daemon does not start there', async (t) => {
  if (needsRoot(t)) return;
  const defer = cleanups(t);
  const root = tempDir(defer);
  const runtime = path.join(root, 'run');
  fs.mkdirSync(runtime, { mode: 0o700 });
  const planted = path.join(runtime, 'globus-timer');
  fs.mkdirSync(planted, { mode: 0o700 });
  const socketPath = path.join(planted, 'daemon.sock');
  const fake = await fakeDaemon(defer, socketPath);
  fs.chmodSync(socketPath, 0o600);
  fs.chownSync(socketPath, OTHER_UID, OTHER_UID);
  fs.chownSync(planted, OTHER_UID, OTHER_UID);
  const { env, dataDir } = userEnv(root, { XDG_RUNTIME_DIR: runtime });
  stopDaemonAfter(defer, env);
  const refusal = new RegExp(`^globus-timer: socket directory ${planted} is owned by uid ${OTHER_UID}, not by you \\(uid 0\\); remove it .*GLOBUS_TIMER_HOME`);

  for (const args of [
    ['job', 'list'],
    ['daemon', 'status'],
    ['daemon', 'stop'],
  ]) {
    assertCliRefused(await runCliProcess(args, env), refusal);
  }
  assert.equal(fs.existsSync(dataDir), false, 'no daemon was autostarted');

  assertRefused(await runDaemonOnce(env), refusal);
  assert.equal(fake.connections(), 0, 'someone else’s socket was connected to');
  const st = fs.statSync(planted);
  assert.equal(st.uid, OTHER_UID);
  assert.equal(st.mode & 0o7777, 0o700);

  // XDG_RUNTIME_DIR itself someone else's, globus-timer/ not made yet: refused before mkdir.
  fs.rmSync(planted, { recursive: true });
  fs.chownSync(runtime, OTHER_UID, OTHER_UID);
  const above = new RegExp(
    `^globus-timer: socket directory ${planted} is inside ${runtime}, which is owned by uid ${OTHER_UID}: another user could replace it`,
  );
  assertCliRefused(await runCliProcess(['job', 'list'], env), above);
  assertRefused(await runDaemonOnce(env), above);
  assert.deepEqual(fs.readdirSync(runtime), []);
});

test('the CLI checks the socket itself: one open to others, or someone else’s, is not connected to', async (t) => {
  const defer = cleanups(t);
  const home = tempDir(defer);
  const env = homeEnv(home);
  const socketPath = path.join(home, 'daemon.sock');
  const fake = await fakeDaemon(defer, socketPath);
  stopDaemonAfter(defer, env);
  fs.chmodSync(socketPath, 0o666);
  assertCliRefused(
    await runCliProcess(['job', 'list'], env),
    new RegExp(`^globus-timer: daemon socket ${socketPath} can be connected to by group/others \\(mode 666\\)`),
  );
  if (process.getuid?.() === 0) {
    fs.chmodSync(socketPath, 0o600);
    fs.chownSync(socketPath, OTHER_UID, OTHER_UID);
    assertCliRefused(await runCliProcess(['job', 'list'], env), new RegExp(`^globus-timer: daemon socket ${socketPath} is owned by uid ${OTHER_UID}`));
  }
  assert.equal(fake.connections(), 0);
  assert.deepEqual(fs.readdirSync(home), ['daemon.sock'], 'no daemon was autostarted');
});

test('a world-writable GLOBUS_TIMER_HOME (or one inside a world-writable directory) is refused by the daemon and the CLI, and not chmod-ed', async (t) => {
  const defer = cleanups(t);
  const home = tempDir(defer);
  fs.chmodSync(home, 0o777);
  const env = homeEnv(home);
  stopDaemonAfter(defer, env);
  const tooOpen = new RegExp(
    `directory ${home} is writable by group/others \\(mode 777\\); check what is in it, then chmod 700 ${home}; or set GLOBUS_TIMER_HOME`,
  );

  assertRefused(await runDaemonOnce(env), tooOpen);
  assertCliRefused(await runCliProcess(['job', 'list'], env), tooOpen);
  assertCliRefused(await runCliProcess(['session', 'whoami'], env), tooOpen);
  assert.equal(modeOf(home), 0o777, 'the directory was chmod-ed');
  assert.deepEqual(fs.readdirSync(home), [], 'something was created in it');

  // The home itself private, the directory above it not: another user could swap it.
  const inside = path.join(home, 'mine');
  fs.mkdirSync(inside, { mode: 0o700 });
  const above = new RegExp(`directory ${inside} is inside ${home}, which is writable by group/others without the sticky bit \\(mode 777\\)`);
  assertRefused(await runDaemonOnce(homeEnv(inside)), above);
  assertCliRefused(await runCliProcess(['job', 'list'], homeEnv(inside)), above);
  assert.deepEqual(fs.readdirSync(inside), []);
  assert.equal(modeOf(home), 0o777);
});

test('a symbolic link as the state directory, or as XDG_RUNTIME_DIR/globus-timer, is refused: nothing is made where it points', async (t) => {
  const defer = cleanups(t);
  const root = tempDir(defer);
  const real = path.join(root, 'real');
  fs.mkdirSync(real, { mode: 0o700 });
  const link = path.join(root, 'link');
  fs.symlinkSync(real, link);
  const env = homeEnv(link);
  stopDaemonAfter(defer, env);
  const isLink = new RegExp(`directory ${link} is a symbolic link; replace it with a real directory`);
  assertRefused(await runDaemonOnce(env), isLink);
  assertCliRefused(await runCliProcess(['job', 'list'], env), isLink);
  assert.deepEqual(fs.readdirSync(real), []);

  // The attacker's choice of directory, linked where the socket directory goes.
  const runtime = path.join(root, 'run');
  fs.mkdirSync(runtime, { mode: 0o700 });
  const chosen = path.join(root, 'chosen');
  fs.mkdirSync(chosen, { mode: 0o755 });
  fs.symlinkSync(chosen, path.join(runtime, 'globus-timer'));
  const user = userEnv(root, { XDG_RUNTIME_DIR: runtime });
  stopDaemonAfter(defer, user.env);
  const runtimeLink = new RegExp(`socket directory ${path.join(runtime, 'globus-timer')} is a symbolic link`);
  assertCliRefused(await runCliProcess(['job', 'list'], user.env), runtimeLink);
  assertRefused(await runDaemonOnce(user.env), runtimeLink);
  assert.deepEqual(fs.readdirSync(chosen), []);
  assert.equal(modeOf(chosen), 0o755, 'the linked directory was chmod-ed');
});

test('a database planted by another user is refused, not opened, chmod-ed or migrated', async (t) => {
  if (needsRoot(t)) return;
  const defer = cleanups(t);
  const home = tempDir(defer);
  const dbFile = path.join(home, 'timer.db');
  const planted = new Database(dbFile);
  planted.exec("CREATE TABLE planted (x); INSERT INTO planted VALUES ('their job')");
  planted.close();
  fs.chmodSync(dbFile, 0o644);
  fs.chownSync(dbFile, OTHER_UID, OTHER_UID);
  const before = fs.readFileSync(dbFile);

  assertRefused(
    await runDaemonOnce(homeEnv(home)),
    new RegExp(`^globus-timer: database ${dbFile} is owned by uid ${OTHER_UID}, not by you \\(uid 0\\); remove it`),
  );
  assert.deepEqual(fs.readFileSync(dbFile), before);
  const st = fs.statSync(dbFile);
  assert.equal(st.uid, OTHER_UID);
  assert.equal(st.mode & 0o777, 0o644);
  assert.deepEqual(fs.readdirSync(home).sort(), ['timer.db'], 'no -wal, pid file or socket beside it');
});

test('planted links in the state and log directories: the daemon and the CLI refuse them and write nothing through them', async (t) => {
  const defer = cleanups(t);
  const home = tempDir(defer);
  const elsewhere = tempDir(defer);
  const victim = path.join(elsewhere, 'victim.txt');
  fs.writeFileSync(victim, 'precious\n', { mode: 0o644 });
  const env = homeEnv(home);
  stopDaemonAfter(defer, env);
  const socketPath = path.join(home, 'daemon.sock');
  const logs = path.join(home, 'logs');
  fs.mkdirSync(logs, { mode: 0o700 });
  const untouched = () => {
    assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n');
    assert.equal(modeOf(victim), 0o644);
  };

  // pino-roll appends to the highest daemon.N.log there is: through the link, into the victim.
  const rolled = path.join(logs, 'daemon.1.log');
  fs.symlinkSync(victim, rolled);
  assertRefused(await runDaemonOnce(env, { args: ['--log-file'], socketPath }), new RegExp(`^globus-timer: log file ${rolled} is a symbolic link; remove it`));
  untouched();
  fs.rmSync(rolled);

  // The detached daemon's output file, opened by the CLI before it starts one.
  const out = path.join(logs, 'daemon.out');
  fs.symlinkSync(victim, out);
  assertCliRefused(await runCliProcess(['job', 'list'], env), new RegExp(`^globus-timer: daemon output file ${out} is a symbolic link; remove it`));
  assert.equal(isSocket(socketPath), false, 'a daemon was started');
  untouched();
  fs.rmSync(out);

  // The pid file: read through the link, then replaced, before; refused now.
  const pidFile = path.join(home, 'daemon.pid');
  fs.symlinkSync(victim, pidFile);
  assertRefused(await runDaemonOnce(env), new RegExp(`^globus-timer: pid file ${pidFile} is a symbolic link; remove it`));
  untouched();
  assert.ok(fs.lstatSync(pidFile).isSymbolicLink());
});

test('the token cache: a link is refused (its target neither read nor chmod-ed); a group-writable directory is refused', async (t) => {
  const defer = cleanups(t);
  const home = tempDir(defer);
  const elsewhere = tempDir(defer);
  const target = path.join(elsewhere, 'tokens.json');
  fs.writeFileSync(target, JSON.stringify({ format: TOKEN_CACHE_FORMAT, client_id: 'c', tokens: {} }), { mode: 0o644 });
  const env = homeEnv(home);
  stopDaemonAfter(defer, env);
  const tokensFile = resolvePaths(env).tokensFile;
  fs.symlinkSync(target, tokensFile);
  const isLink = new RegExp(`token cache ${tokensFile} is a symbolic link; remove it`);

  const warnings: string[] = [];
  assert.throws(
    () => new TokenCache(tokensFile, (m) => warnings.push(m)).read(),
    (err: unknown) => {
      assert.ok(err instanceof TimerError);
      assert.equal(err.code, ERROR_CODES.UNSAFE_PATH);
      assert.match(err.message, isLink);
      return true;
    },
  );
  assert.deepEqual(warnings, []);
  assertCliRefused(await runCliProcess(['session', 'whoami'], env), isLink);
  assertRefused(await runDaemonOnce(env), isLink);
  assert.equal(modeOf(target), 0o644, 'the link’s target was chmod-ed');

  const shared = path.join(elsewhere, 'globus');
  fs.mkdirSync(shared);
  fs.chmodSync(shared, 0o770);
  const cache = new TokenCache(path.join(shared, 'tokens.json'), () => {});
  await assert.rejects(
    cache.update(() => ({ format: TOKEN_CACHE_FORMAT, client_id: 'c', tokens: {} })),
    (err: unknown) =>
      err instanceof TimerError &&
      err.code === ERROR_CODES.UNSAFE_PATH &&
      /token cache directory .* is writable by group\/others \(mode 770\)/.test(err.message),
  );
  assert.deepEqual(fs.readdirSync(shared), []);
  assert.equal(modeOf(shared), 0o770);
});

test('a database or token cache open to others that cannot be made private is fatal, not ignored', async (t) => {
  if (needsRoot(t)) return; // chmod fails for root only on an immutable file
  const defer = cleanups(t);
  const home = tempDir(defer);
  const dbFile = path.join(home, 'timer.db');
  const tokensFile = path.join(home, 'tokens.json');
  fs.writeFileSync(dbFile, '', { mode: 0o644 });
  fs.writeFileSync(tokensFile, '{}', { mode: 0o644 });
  try {
    execFileSync('chattr', ['+i', dbFile, tokensFile], { stdio: 'pipe' });
  } catch (err) {
    t.skip(`chattr +i failed: ${(err as Error).message.split('\n')[0]}`);
    return;
  }
  try {
    const unsafe = (what: string, file: string) => (err: unknown) =>
      err instanceof TimerError &&
      err.code === ERROR_CODES.UNSAFE_PATH &&
      err.message.startsWith(`cannot make ${what} ${file} private (it has mode 644; chmod 600 failed:`);
    assert.throws(() => openDb(dbFile), unsafe('database', dbFile));
    assert.throws(() => new TokenCache(tokensFile, () => {}).read(), unsafe('token cache', tokensFile));
  } finally {
    execFileSync('chattr', ['-i', dbFile, tokensFile], { stdio: 'pipe' }); // else the temp dir cannot be removed
  }
});
