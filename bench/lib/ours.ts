/** globus-timer as the system under test of a firing run. */
import Database from 'better-sqlite3';
import path from 'node:path';
import { checkActionUrl } from '../../src/core/input.ts';
import { resolvePaths } from '../../src/config/paths.ts';
import { mixText, startApiLoad, type ApiLoad, type ApiLoadOptions } from './api-load-client.ts';
import { startDaemon, daemonEnv, type DaemonHandle } from './daemon.ts';
import type { Observed } from './firing.ts';
import type { SystemUnderTest } from './firing-run.ts';
import { procStats, ROOT } from './procs.ts';
import type { FireRecord } from './provider-client.ts';
import { seedGrid, type Grid } from './seed.ts';
import { percentiles, round } from './stats.ts';
import fs from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';

/** bench/watchers.ts against the daemon; resolves once every watcher is subscribed. */
async function startWatchers(daemon: DaemonHandle, w: { rpc: number; sse: number }): Promise<ChildProcess> {
  const args = [daemon.paths.socketPath, daemon.api?.url ?? '', daemon.api?.token ?? '', String(w.rpc), String(w.sse)];
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/watchers.ts'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the watchers did not subscribe within 30 s:\n${stderr}`)), 30_000);
    child.stderr!.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
      if (stderr.includes('watchers ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`the watchers exited (${code}):\n${stderr}`)));
  });
  return child;
}

/** What each watcher received (bench/watchers.ts prints it on SIGTERM). */
async function stopWatchers(child: ChildProcess): Promise<unknown> {
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
  return JSON.parse(stdout.trim() || 'null') as unknown;
}

export interface OursOptions {
  /** Write a V8 CPU profile of the daemon into this directory. */
  cpuProfDir?: string | null;
  /** Preload bench/probe.ts: event-loop delay and utilisation over the window. */
  probe?: boolean;
  /**
   * Start the daemon with its REST API on a free loopback port, and run this load against it
   * from its own process (bench/api-load.ts) from t0 to the end of the window.
   */
  api?: ApiLoadOptions | null;
  /**
   * Watchers attached from their own process (bench/watchers.ts) for the whole run: `rpc`
   * connections subscribed to every job's events (`job watch --all`), `sse` dashboard
   * event streams (`GET /events`; the daemon then serves its REST API).
   */
  watchers?: { rpc: number; sse: number } | null;
}

export function oursSystem(opts: OursOptions = {}): SystemUnderTest {
  let daemon: DaemonHandle | undefined;
  let home = '';
  let ids: string[] = [];
  let stopped: Promise<void> | undefined;
  let probeFile = '';
  let load: ApiLoad | undefined;
  let loadStats: Record<string, unknown> | undefined;
  const api = opts.api ?? null;
  const watching = opts.watchers ?? null;
  let watchers: ChildProcess | undefined;
  let watcherStats: unknown;
  return {
    name: api ? `globus-timer + API ${api.rate} req/s` : watching ? `globus-timer + ${watching.rpc} watchers, ${watching.sse} dashboards` : 'globus-timer',
    setupEstimateMs: (grid) => 1_500 + grid.n * 0.06 + (api ? 1_500 : 0),
    async setup(grid: Grid, providerUrl: string, dir: string) {
      home = dir;
      const paths = resolvePaths(daemonEnv(dir));
      const t0 = performance.now();
      ids = seedGrid(paths.dbFile, grid, checkActionUrl(providerUrl));
      const seedMs = performance.now() - t0;
      const nodeArgs: string[] = [];
      const env: NodeJS.ProcessEnv = {};
      if (opts.cpuProfDir) nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`);
      if (opts.probe) {
        probeFile = path.join(dir, 'probe.json');
        nodeArgs.push('--import', 'tsx', '--import', path.join(ROOT, 'bench/probe.ts'));
        env.BENCH_PROBE_OUT = probeFile;
      }
      // The load generator's start-up (a node process) overlaps the daemon's.
      if (api) load = startApiLoad(dir);
      daemon = await startDaemon(dir, { nodeArgs, env, api: !!api || (watching?.sse ?? 0) > 0 });
      const info = { seed_ms: Math.round(seedMs), ready_ms: Math.round(daemon.readyMs) };
      if (watching) {
        watchers = await startWatchers(daemon, watching);
        return { ...info, watchers_rpc: watching.rpc, watchers_sse: watching.sse };
      }
      if (!api || !load) return info;
      await load.setup({
        baseUrl: daemon.api!.url,
        token: daemon.api!.token,
        ids,
        providerUrl,
        rate: api.rate,
        mix: api.mix,
        connections: api.connections,
        startAtMs: grid.t0Ms,
      });
      return { ...info, api_rate: api.rate, api_mix: mixText(api.mix), api_connections: api.connections };
    },
    // The load generator is not the system: its CPU is reported apart (api_load.cpu_total_s).
    pids: () => [daemon?.pid],
    markWindow: (edge) => {
      if (opts.probe && daemon?.pid) process.kill(daemon.pid, 'SIGUSR2');
      load?.window(edge);
    },
    stop: () =>
      (stopped ??= (async () => {
        try {
          if (load) {
            const stats = await load.results(api?.answerWaitMs ?? 0);
            loadStats = { ...stats, cpu_total_s: round(procStats(load.pid)?.cpuS, 2) };
          }
          if (watchers) watcherStats = await stopWatchers(watchers);
        } finally {
          await load?.stop();
          watchers?.kill('SIGKILL');
          if (daemon) await daemon.stop();
        }
      })()),
    async results(records: FireRecord[], grid: Grid, warmupMs: number) {
      const db = new Database(resolvePaths(daemonEnv(home)).dbFile, { readonly: true });
      try {
        const index = new Map(ids.map((id, i) => [id, i]));
        const runs = db.prepare('SELECT job_id, slot_at_ms, request_id, fired_at_ms, state, attempts FROM runs').all() as {
          job_id: string;
          slot_at_ms: number;
          request_id: string;
          fired_at_ms: number;
          state: string;
          attempts: number;
        }[];
        const byRequest = new Map(runs.map((r) => [r.request_id, r]));
        const observed: Observed[] = [];
        let unmapped = 0;
        for (const rec of records) {
          const run = byRequest.get(rec.requestId);
          const job = run && index.get(run.job_id);
          if (run && job !== undefined) observed.push({ job, slot: run.slot_at_ms, t: rec.t });
          else unmapped += 1;
        }
        const windowStart = grid.t0Ms + warmupMs;
        const fired = percentiles(runs.filter((r) => r.slot_at_ms >= windowStart).map((r) => r.fired_at_ms - r.slot_at_ms));
        const states: Record<string, number> = {};
        for (const r of runs) states[r.state] = (states[r.state] ?? 0) + 1;
        const sums = db.prepare('SELECT sum(missed_slots) AS missed, sum(overlap_skipped_slots) AS overlap, sum(error_count) AS errors FROM jobs').get() as {
          missed: number | null;
          overlap: number | null;
          errors: number | null;
        };
        let probe: unknown;
        if (probeFile && fs.existsSync(probeFile)) probe = JSON.parse(fs.readFileSync(probeFile, 'utf8'));
        return {
          observed,
          unmapped,
          extra: {
            // fired_at − slot as the daemon recorded it (whole ms): the scheduler's share of the lateness.
            fired_ms: { p50: fired.p50, p99: fired.p99, max: fired.max },
            daemon_runs: states,
            daemon_skipped: { missed: sums.missed ?? 0, overlap: sums.overlap ?? 0 },
            daemon_errors: sums.errors ?? 0,
            ...(probe ? { probe } : {}),
            ...(loadStats ? { api_load: loadStats } : {}),
            ...(watcherStats ? { watchers: watcherStats } : {}),
          },
        };
      } finally {
        db.close();
      }
    },
  };
}
