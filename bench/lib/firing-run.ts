/**
 * One firing run: a grid of N jobs at R fires/s for D seconds against the loopback
 * provider, for any system under test (globus-timer, or BullMQ). The system is set up
 * before t0 (so start-up is not measured as lateness), measured over [t0 + W, t0 + D],
 * given up to `drainS` after t0 + D to deliver late fires, then stopped; the provider's
 * records are mapped to (job, slot) and analysed.
 */
import os from 'node:os';
import { analyze, type FiringAnalysis, type Observed } from './firing.ts';
import { procStats, sleep, sleepUntil, makeTempDir, removeTempDir, type ProcStats } from './procs.ts';
import { startProvider, type FireRecord } from './provider-client.ts';
import { expectedSlots, gridShape, type Grid } from './seed.ts';
import { round } from './stats.ts';

export interface FiringParams {
  n: number;
  rate: number;
  durationS: number;
  warmupS: number;
  /** How long after t0 + D late fires may still arrive. */
  drainS: number;
  /** Idle time between the system being ready and t0, on top of the set-up estimate. */
  marginS: number;
}

export interface SystemUnderTest {
  name: string;
  /** How long set-up may take for this grid (ms); t0 is placed after it. */
  setupEstimateMs(grid: Grid): number;
  /** Load the grid and start; resolves when the system is ready to fire. */
  setup(grid: Grid, providerUrl: string, dir: string): Promise<Record<string, unknown>>;
  /** The processes whose CPU and memory count as the system's: main first. */
  pids(): (number | undefined)[];
  /** Called at the start and the end of the measurement window. */
  markWindow?(edge: 'start' | 'end'): void;
  /** Stop everything; resolves after the processes have exited. */
  stop(): Promise<void>;
  /** After stop: map the provider's records to slots, and anything else worth reporting. */
  results(records: FireRecord[], grid: Grid, warmupMs: number): Promise<{ observed: Observed[]; unmapped: number; extra: Record<string, unknown> }>;
}

export interface FiringRow extends FiringAnalysis {
  scenario: string;
  system: string;
  n: number;
  rate: number;
  interval_s: number;
  duration_s: number;
  warmup_s: number;
  /** CPU seconds of the system's processes during the measurement window, and in total. */
  cpu_s: number | null;
  cpu_total_s: number | null;
  /** Peak RSS of the system's main process (VmHWM), MiB. */
  peak_rss_mb: number | null;
  provider_cpu_s: number | null;
  /** From set-up start until the system was ready, and how long before t0 that was. */
  setup_ms: number;
  slack_ms: number;
  load_avg_1m: number;
  [key: string]: unknown;
}

export async function runFiring(scenario: string, system: SystemUnderTest, p: FiringParams): Promise<FiringRow> {
  const dir = makeTempDir('gtb-');
  try {
    const provider = await startProvider(dir);
    try {
      const shape = gridShape(p.n, p.rate);
      const durationMs = Math.round(p.durationS * 1000);
      const provisional: Grid = { ...shape, t0Ms: 0, durationMs };
      const setupStart = Date.now();
      const grid: Grid = { ...provisional, t0Ms: Math.round(setupStart + system.setupEstimateMs(provisional) + p.marginS * 1000) };
      const loadAvg = os.loadavg()[0]!;
      const setupInfo = await system.setup(grid, provider.url, dir);
      const readyAt = Date.now();
      if (readyAt > grid.t0Ms) {
        process.stderr.write(`bench: ${system.name} was ready ${readyAt - grid.t0Ms} ms after the first slot; early slots measure start-up too\n`);
      }
      const warmupMs = Math.round(p.warmupS * 1000);
      const expected = expectedSlots(grid);
      const expectedTotal = expected.reduce((sum, s) => sum + s.length, 0);

      await sleepUntil(grid.t0Ms + warmupMs);
      const start = sample(system.pids(), provider.pid);
      system.markWindow?.('start');
      await sleepUntil(grid.t0Ms + durationMs);
      const end = sample(system.pids(), provider.pid);
      system.markWindow?.('end');
      const drainUntil = grid.t0Ms + durationMs + p.drainS * 1000;
      while (Date.now() < drainUntil && (await provider.count()) < expectedTotal) await sleep(100);
      const last = sample(system.pids(), provider.pid);
      await system.stop();
      const { records, bad } = await provider.records();
      const { observed, unmapped, extra } = await system.results(records, grid, warmupMs);
      const analysis = analyze(grid, expected, observed, unmapped + bad, warmupMs);
      const windowS = (durationMs - warmupMs) / 1000;
      const cpuS = diff(end.cpu, start.cpu);
      return {
        scenario,
        system: system.name,
        n: grid.n,
        rate: round(grid.n / grid.intervalS, 1)!,
        interval_s: grid.intervalS,
        duration_s: p.durationS,
        warmup_s: p.warmupS,
        ...analysis,
        cpu_s: round(cpuS, 2),
        cpu_pct: cpuS === null ? null : round((100 * cpuS) / windowS, 1),
        cpu_total_s: round(last.cpu, 2),
        peak_rss_mb: round(last.peakRss[0], 1),
        ...(last.peakRss.length > 1 ? { other_peak_rss_mb: last.peakRss.slice(1).map((x) => round(x, 1)) } : {}),
        provider_cpu_s: round(diff(end.providerCpu, start.providerCpu), 2),
        setup_ms: readyAt - setupStart,
        slack_ms: grid.t0Ms - readyAt,
        load_avg_1m: round(loadAvg, 2)!,
        ...setupInfo,
        ...extra,
      };
    } finally {
      await provider.stop();
    }
  } finally {
    await system.stop().catch(() => {});
    removeTempDir(dir);
  }
}

function sample(pids: (number | undefined)[], providerPid: number | undefined) {
  const stats = pids.map((pid) => procStats(pid));
  const ok = stats.filter((s): s is ProcStats => s !== null);
  return {
    cpu: ok.length ? ok.reduce((sum, s) => sum + s.cpuS, 0) : null,
    peakRss: stats.map((s) => s?.peakRssMb ?? null),
    providerCpu: procStats(providerPid)?.cpuS ?? null,
  };
}

function diff(a: number | null, b: number | null): number | null {
  return a === null || b === null ? null : a - b;
}
