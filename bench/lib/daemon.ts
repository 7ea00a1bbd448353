/** The globus-timer daemon as a real process: `node bin/globus-timer.js daemon run`, as installed. */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { resolvePaths, type AppPaths } from '../../src/config/paths.ts';
import { RpcClient } from '../../src/contract/client.ts';
import { tail } from './ipc.ts';
import { BIN } from './entry.ts';
import { isAlive, procStats, ROOT, sleep, spawnTracked, stopChild, type ProcStats } from './procs.ts';

export interface DaemonHandle {
  proc: ChildProcess;
  pid: number | undefined;
  paths: AppPaths;
  env: NodeJS.ProcessEnv;
  /** From spawn until `daemon.hello` was answered on the socket. */
  readyMs: number;
  logFile: string;
  stats(): ProcStats | null;
  connect(): Promise<RpcClient>;
  /** Graceful stop (SIGTERM), SIGKILL after 20 s. */
  stop(): Promise<number | string>;
}

export interface DaemonOptions {
  /** Extra node flags before the script (e.g. --cpu-prof). */
  nodeArgs?: string[];
  env?: NodeJS.ProcessEnv;
  readyTimeoutMs?: number;
}

export function daemonEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, GLOBUS_TIMER_HOME: home, GLOBUS_TIMER_LOG_LEVEL: 'warn', GLOBUS_TIMER_NO_AUTOSTART: '1', ...extra };
}

export async function startDaemon(home: string, opts: DaemonOptions = {}): Promise<DaemonHandle> {
  const env = daemonEnv(home, opts.env);
  const paths = resolvePaths(env);
  const logFile = path.join(home, 'daemon.stderr.log');
  const fd = fs.openSync(logFile, 'a');
  const t0 = performance.now();
  const proc = spawnTracked(process.execPath, [...(opts.nodeArgs ?? []), BIN, 'daemon', 'run'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', fd, fd],
  });
  fs.closeSync(fd);
  const deadline = t0 + (opts.readyTimeoutMs ?? 120_000);
  let readyMs: number | undefined;
  while (readyMs === undefined) {
    if (!isAlive(proc)) throw new Error(`daemon exited (${proc.exitCode ?? proc.signalCode}) before it answered:\n${tail(logFile)}`);
    if (performance.now() > deadline) {
      await stopChild(proc, 'SIGKILL');
      throw new Error(`daemon did not answer within ${opts.readyTimeoutMs ?? 120_000} ms:\n${tail(logFile)}`);
    }
    try {
      const client = await RpcClient.connect(paths.socketPath, { timeoutMs: 60_000 });
      readyMs = performance.now() - t0;
      client.close();
    } catch {
      await sleep(5);
    }
  }
  return {
    proc,
    pid: proc.pid,
    paths,
    env,
    readyMs,
    logFile,
    stats: () => procStats(proc.pid),
    connect: () => RpcClient.connect(paths.socketPath, { timeoutMs: 120_000 }),
    stop: () => stopChild(proc, 'SIGTERM', 20_000),
  };
}
