/** BullMQ on a redis-server of the bench's own, as the system under test of a firing run. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Observed } from './firing.ts';
import type { SystemUnderTest } from './firing-run.ts';
import { startIpcChild, tail, type IpcChild } from './ipc.ts';
import { freePort, isAlive, sleep, spawnTracked, stopChild } from './procs.ts';
import type { ChildProcess } from 'node:child_process';
import type { FireRecord } from './provider-client.ts';
import type { Grid } from './seed.ts';

export const REDIS_MISSING = 'skipped: redis-server not installed (apt-get install redis-server)';

/** The redis-server on PATH and its version, or null when there is none. */
export function redisServerVersion(): string | null {
  try {
    const out = execFileSync('redis-server', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return /v=(\S+)/.exec(out)?.[1] ?? out.trim();
  } catch {
    return null;
  }
}

interface Redis {
  proc: ChildProcess;
  port: number;
  stop(): Promise<void>;
}

/** Start `redis-server` on a free loopback port: no persistence, `hz` as given (null: Redis's default, 10). */
async function startRedis(dir: string, hz: number | null): Promise<Redis> {
  const port = await freePort();
  const logFile = path.join(dir, `redis-${port}.log`);
  const fd = fs.openSync(logFile, 'a');
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir];
  if (hz !== null) args.push('--hz', String(hz));
  const proc = spawnTracked('redis-server', args, { cwd: dir, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const deadline = Date.now() + 20_000;
  while (!(await ping(port))) {
    if (!isAlive(proc) || Date.now() > deadline) {
      await stopChild(proc, 'SIGKILL');
      throw new Error(`redis-server did not start:\n${tail(logFile)}`);
    }
    await sleep(20);
  }
  return { proc, port, stop: async () => void (await stopChild(proc, 'SIGTERM', 10_000)) };
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let answer = '';
    sock.setEncoding('utf8');
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d: string) => {
      answer += d;
      if (answer.includes('\r\n')) {
        sock.destroy();
        resolve(answer.startsWith('+PONG'));
      }
    });
    sock.once('error', () => resolve(false));
    sock.setTimeout(1_000, () => {
      sock.destroy();
      resolve(false);
    });
  });
}

export interface PeerOptions {
  /** Redis `hz`; null for its default (10). */
  hz: number | null;
  concurrency: number;
}

export function bullmqSystem(opts: PeerOptions): SystemUnderTest {
  let redis: Redis | undefined;
  let worker: IpcChild | undefined;
  let stopped: Promise<void> | undefined;
  return {
    name: opts.hz === null ? 'bullmq (redis defaults)' : `bullmq (redis hz ${opts.hz})`,
    setupEstimateMs: (grid) => 1_500 + grid.n * 0.3,
    async setup(grid: Grid, providerUrl: string, dir: string) {
      const t0 = performance.now();
      redis = await startRedis(dir, opts.hz);
      worker = startIpcChild('bench/peer-worker.ts', path.join(dir, 'peer-worker.log'));
      const ready = await worker.ask<{ type: 'ready'; upsert_ms: number }>(
        {
          type: 'setup',
          port: redis.port,
          providerUrl,
          n: grid.n,
          intervalS: grid.intervalS,
          t0Ms: grid.t0Ms,
          durationMs: grid.durationMs,
          concurrency: opts.concurrency,
          maxConnections: 16,
        },
        'ready',
        600_000,
      );
      return { ready_ms: Math.round(performance.now() - t0), upsert_ms: ready.upsert_ms, concurrency: opts.concurrency };
    },
    // The worker process first, then redis-server: CPU is the sum of both.
    pids: () => [worker?.proc.pid, redis?.proc.pid],
    stop: () =>
      (stopped ??= (async () => {
        await worker?.stop();
        await redis?.stop();
      })()),
    async results(records: FireRecord[], grid: Grid) {
      const endMs = grid.t0Ms + grid.durationMs;
      const observed: Observed[] = [];
      let unmapped = 0;
      for (const r of records) {
        if (r.job === null || r.slot === null) unmapped += 1;
        else if (r.slot < endMs) observed.push({ job: r.job, slot: r.slot, t: r.t });
      }
      return { observed, unmapped, extra: {} };
    },
  };
}
