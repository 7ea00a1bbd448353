/**
 * Scale: a database of N jobs (default 1,000,000) inserted in bulk, none due. Measures the
 * daemon's start-to-ready time (spawn until `daemon.hello` answers; also for an empty
 * database, as the floor), idle RSS once settled (and the empty database's), `job.get` and
 * first-page `job.list` latency over the socket, and `job.submit` throughput over one
 * connection; then, on the same database started again with the REST API (issue 18), the
 * latency of `GET /jobs/{id}` over one keep-alive connection.
 */
import fs from 'node:fs';
import { resolvePaths } from '../../src/config/paths.ts';
import type { RpcClient } from '../../src/contract/client.ts';
import { Pool } from 'undici';
import { daemonEnv, startDaemon, type DaemonHandle } from '../lib/daemon.ts';
import { makeTempDir, removeTempDir, sleep } from '../lib/procs.ts';
import { seedScale } from '../lib/seed.ts';
import { percentiles, round } from '../lib/stats.ts';

export interface ScaleParams {
  n: number;
  calls: number;
  submits: number;
  inFlight: number;
  settleS: number;
}

export interface ScaleRow {
  scenario: 'scale';
  jobs: number;
  seed_s: number | null;
  db_mb: number | null;
  ready_empty_ms: number;
  idle_rss_empty_mb: number | null;
  ready_ms: number;
  idle_rss_mb: number | null;
  peak_rss_mb: number | null;
  job_get_ms: { p50: number | null; p99: number | null };
  job_get_rest_ms: { p50: number | null; p99: number | null };
  job_list_ms: { p50: number | null; p99: number | null };
  calls: number;
  submit_per_s_sequential: number | null;
  submit_ms: { p50: number | null; p99: number | null };
  submit_per_s_in_flight: number | null;
  in_flight: number;
  submits: number;
  rss_after_mb: number | null;
  [key: string]: unknown;
}

const URL = 'http://127.0.0.1:9/run';

export async function runScale(p: ScaleParams): Promise<ScaleRow> {
  // The floor: the same daemon on an empty database.
  const emptyDir = makeTempDir('gtb-');
  let readyEmptyMs: number;
  let idleEmpty: ReturnType<DaemonHandle['stats']>;
  try {
    const d = await startDaemon(emptyDir);
    readyEmptyMs = d.readyMs;
    await sleep(p.settleS * 1000);
    idleEmpty = d.stats();
    await d.stop();
  } finally {
    removeTempDir(emptyDir);
  }

  const dir = makeTempDir('gtb-');
  try {
    const dbFile = resolvePaths(daemonEnv(dir)).dbFile;
    const seed = seedScale(dbFile, p.n, URL);
    const dbBytes = fs.statSync(dbFile).size;
    const daemon = await startDaemon(dir, { readyTimeoutMs: 300_000 });
    try {
      await sleep(p.settleS * 1000);
      const idle = daemon.stats();
      const client = await daemon.connect();
      try {
        const ids = seed.sampleIds;
        const get = await timeCalls(p.calls, (i) => client.call('job.get', { job_id: ids[i % ids.length]! }));
        const list = await timeCalls(p.calls, () => client.call('job.list', { limit: 100 }));
        const far = new Date(Date.now() + 2 * 365 * 86_400_000).toISOString();
        const params = (i: number) => ({
          name: `submit-${i}`,
          interval_seconds: 3600,
          start: far,
          callback_url: URL,
          callback_body: { body: { i } },
        });
        const seqStart = performance.now();
        const seq = await timeCalls(p.submits, (i) => client.call('job.submit', params(i)), 0);
        const seqS = (performance.now() - seqStart) / 1000;
        const parStart = performance.now();
        await inFlight(client, p.submits, p.inFlight, (i) => params(p.submits + i));
        const parS = (performance.now() - parStart) / 1000;
        const after = daemon.stats();
        await daemon.stop();
        const getRest = await restGets(dir, ids, p.calls);
        return {
          scenario: 'scale',
          jobs: p.n,
          seed_s: round(seed.insertMs / 1000, 1),
          db_mb: round(dbBytes / 2 ** 20, 0),
          ready_empty_ms: Math.round(readyEmptyMs),
          idle_rss_empty_mb: round(idleEmpty?.rssMb, 1),
          ready_ms: Math.round(daemon.readyMs),
          idle_rss_mb: round(idle?.rssMb, 1),
          peak_rss_mb: round(after?.peakRssMb, 1),
          job_get_ms: pick(get),
          job_get_rest_ms: pick(getRest),
          job_list_ms: pick(list),
          calls: p.calls,
          submit_per_s_sequential: round(p.submits / seqS, 0),
          submit_ms: pick(seq),
          submit_per_s_in_flight: round(p.submits / parS, 0),
          in_flight: p.inFlight,
          submits: p.submits,
          rss_after_mb: round(after?.rssMb, 1),
        };
      } finally {
        client.close();
      }
    } finally {
      await daemon.stop();
    }
  } finally {
    removeTempDir(dir);
  }
}

/** `GET /jobs/{id}` of the REST API, `count` times one after another on one keep-alive connection, the daemon started again with the API. */
async function restGets(dir: string, ids: string[], count: number): Promise<number[]> {
  const daemon = await startDaemon(dir, { api: true, readyTimeoutMs: 300_000 });
  const pool = new Pool(daemon.api!.url, { connections: 1 });
  try {
    const headers = { authorization: `Bearer ${daemon.api!.token}` };
    return await timeCalls(count, async (i) => {
      const res = await pool.request({ method: 'GET', path: `/jobs/${ids[i % ids.length]}`, headers });
      const body = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`GET /jobs/${ids[i % ids.length]} answered ${res.statusCode}: ${body.slice(0, 200)}`);
    });
  } finally {
    await pool.close();
    await daemon.stop();
  }
}

/** Time `count` sequential calls (after `warmup` untimed ones); latencies in ms. */
async function timeCalls(count: number, call: (i: number) => Promise<unknown>, warmup = 20): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await call(count + i);
  const ms: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await call(i);
    ms.push(performance.now() - t);
  }
  return ms;
}

/** `count` submits with `width` requests outstanding at any time on one connection. */
async function inFlight(client: RpcClient, count: number, width: number, params: (i: number) => Parameters<RpcClient['call']>[1]) {
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      await client.call('job.submit', params(i) as never);
    }
  };
  await Promise.all(Array.from({ length: width }, lane));
}

function pick(ms: number[]): { p50: number | null; p99: number | null } {
  const p = percentiles(ms);
  return { p50: round(p.p50, 3), p99: round(p.p99, 3) };
}
