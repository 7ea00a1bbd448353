/** The globus-timer daemon as a real process: `node bin/globus-timer.js daemon run`, as installed. */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { readApiToken } from '../../src/auth/api-token.ts';
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
  /** From spawn until `daemon.hello` was answered on the socket (and, with `api`, the REST API's URL was known). */
  readyMs: number;
  /** With `api`: the REST API's base URL (from `daemon.status`) and its bearer token (from the state directory). */
  api: { url: string; token: string } | null;
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
  /** Serve the Timers REST API on a free loopback port (GLOBUS_TIMER_API_ADDR=127.0.0.1:0). */
  api?: boolean;
}

/** The daemon's environment: no REST API unless asked for (an API address in the bench's own environment is not inherited). */
export function daemonEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, GLOBUS_TIMER_HOME: home, GLOBUS_TIMER_LOG_LEVEL: 'warn', GLOBUS_TIMER_NO_AUTOSTART: '1', GLOBUS_TIMER_API_ADDR: '', ...extra };
}

export async function startDaemon(home: string, opts: DaemonOptions = {}): Promise<DaemonHandle> {
  const env = daemonEnv(home, { ...(opts.api ? { GLOBUS_TIMER_API_ADDR: '127.0.0.1:0' } : {}), ...opts.env });
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
  let apiUrl: string | null = null;
  while (readyMs === undefined) {
    if (!isAlive(proc)) throw new Error(`daemon exited (${proc.exitCode ?? proc.signalCode}) before it answered:\n${tail(logFile)}`);
    if (performance.now() > deadline) {
      await stopChild(proc, 'SIGKILL');
      throw new Error(`daemon did not answer${opts.api ? ' with its REST API' : ''} within ${opts.readyTimeoutMs ?? 120_000} ms:\n${tail(logFile)}`);
    }
    try {
      const client = await RpcClient.connect(paths.socketPath, { timeoutMs: 60_000 });
      try {
        // The socket answers before the API listens: with the API, ready is when its URL is known.
        if (opts.api) apiUrl = (await client.call('daemon.status', {})).api_url;
        if (!opts.api || apiUrl !== null) readyMs = performance.now() - t0;
      } finally {
        client.close();
      }
    } catch {
      // not listening yet
    }
    if (readyMs === undefined) await sleep(5);
  }
  let api: DaemonHandle['api'] = null;
  if (apiUrl !== null) {
    const token = readApiToken(paths.apiTokenFile);
    if (!token) {
      await stopChild(proc, 'SIGTERM', 20_000);
      throw new Error(`the daemon serves its REST API on ${apiUrl}, but ${paths.apiTokenFile} holds no token:\n${tail(logFile)}`);
    }
    api = { url: apiUrl, token };
  }
  return {
    proc,
    pid: proc.pid,
    paths,
    env,
    readyMs,
    api,
    logFile,
    stats: () => procStats(proc.pid),
    connect: () => RpcClient.connect(paths.socketPath, { timeoutMs: 120_000 }),
    stop: () => stopChild(proc, 'SIGTERM', 20_000),
  };
}
