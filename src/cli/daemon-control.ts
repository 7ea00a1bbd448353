import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { AppPaths } from '../config/paths.ts';
import { isProcessAlive } from '../fs/daemon-lock.ts';
import { CLI_BIN } from '../util/package-root.ts';
import { ERROR_CODES, TimerError } from '../core/errors.ts';
import { ensurePrivateDir, openPrivateFile } from '../fs/private.ts';
import { isAnswering, RpcClient } from '../contract/client.ts';

/** How long `daemon start` (and autostart) wait for the new daemon to answer. */
const START_TIMEOUT_MS = 20_000;
/** How long `daemon stop` waits: the daemon's own shutdown grace plus a margin. */
const STOP_TIMEOUT_MS = 30_000;
const POLL_MS = 50;
/** After our daemon exited, how long another CLI's daemon may take to answer. */
const EXITED_GRACE_MS = 3_000;

/** Where a detached daemon's stdout/stderr go: what it says before its logger exists. */
function startupLogFile(paths: AppPaths): string {
  return path.join(paths.logDir, 'daemon.out');
}

export function currentLogFile(paths: AppPaths): string {
  return path.join(paths.logDir, 'current.log');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Start a detached daemon and wait until it answers on the socket. If another CLI started
 * one at the same moment, theirs wins the state lock, ours exits, and we use theirs: either
 * way exactly one daemon ends up serving. Returns the pid of the daemon that answers.
 */
export async function startDetached(paths: AppPaths, env: NodeJS.ProcessEnv): Promise<number> {
  ensurePrivateDir(paths.logDir, 'log directory');
  // Not through a link another user planted: the daemon's output would be appended to its target.
  const out = openPrivateFile(startupLogFile(paths), 'daemon output file', { create: 'if-missing', access: 'append' }).fd;
  const child = spawn(process.execPath, [CLI_BIN, 'daemon', 'run', '--log-file'], {
    detached: true,
    stdio: ['ignore', out, out],
    env,
  });
  fs.closeSync(out);
  let exitCode: number | null = null;
  let exitedAtMs = 0;
  child.on('exit', (code) => {
    exitCode = code ?? 1;
    exitedAtMs = Date.now();
  });
  child.unref();
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (await isAnswering(paths.socketPath)) return (await daemonPid(paths)) ?? child.pid ?? 0;
    // Ours exited: fine if another daemon is coming up (a race we lost), so keep looking
    // for a few seconds; then give up with what it said.
    if (exitCode !== null && Date.now() - exitedAtMs > EXITED_GRACE_MS) break;
    await sleep(POLL_MS);
  }
  throw new TimerError(
    ERROR_CODES.DAEMON_NOT_RUNNING,
    `the daemon did not start${exitCode !== null ? ` (exit ${exitCode})` : ''}: ${lastLines(paths, 5) || 'no output'}; see ${startupLogFile(paths)}`,
  );
}

/** A connection to the running daemon, or null when none answers (other errors are thrown). */
async function connectIfRunning(paths: AppPaths): Promise<RpcClient | null> {
  try {
    return await RpcClient.connect(paths.socketPath, { timeoutMs: 5_000 });
  } catch (err) {
    if (err instanceof TimerError && err.code === ERROR_CODES.DAEMON_NOT_RUNNING) return null;
    throw err;
  }
}

/** The pid of the daemon answering on the socket, or null when none does. */
export async function daemonPid(paths: AppPaths): Promise<number | null> {
  const client = await connectIfRunning(paths);
  client?.close();
  return client ? client.daemon.pid : null;
}

/**
 * Ask the daemon to stop and wait until it is gone (its pid has exited). Returns the pid,
 * or null when no daemon was running.
 */
export async function stopDaemon(paths: AppPaths): Promise<number | null> {
  const client = await connectIfRunning(paths);
  if (!client) return null;
  let pid: number;
  try {
    pid = (await client.call('daemon.stop', {})).pid;
  } finally {
    client.close();
  }
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (isProcessAlive(pid)) {
    if (Date.now() > deadline) {
      throw new TimerError(ERROR_CODES.INTERNAL, `the daemon (pid ${pid}) did not stop within ${STOP_TIMEOUT_MS / 1000} s; stop it with: kill ${pid}`);
    }
    await sleep(POLL_MS);
  }
  return pid;
}

/** The last `n` non-empty lines of the startup output and the log, joined on one line. */
function lastLines(paths: AppPaths, n: number): string {
  const lines: string[] = [];
  for (const file of [startupLogFile(paths), currentLogFile(paths)]) {
    try {
      lines.push(
        ...fs
          .readFileSync(file, 'utf8')
          .split('\n')
          .filter((l) => l.trim()),
      );
    } catch {
      // not written yet
    }
  }
  return lines.slice(-n).join(' | ');
}
