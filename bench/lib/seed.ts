/**
 * Bulk inserts for the bench, through the store's own `openDb` (so the schema is migrated
 * exactly as the daemon would) and then raw prepared INSERTs in a few transactions: a
 * million `job.submit` RPCs would measure the RPC, not the scheduler.
 *
 * Rows are what `JobService.submit` writes (see src/daemon/jobs/job-service.ts): status, next slot
 * and next run from the same pure slot functions.
 */
import { randomUUID } from 'node:crypto';
import { openDb } from '../../src/daemon/store/open.ts';
import { nextRunOf } from '../../src/core/slots.ts';

const JOB_COLUMNS = [
  'id',
  'name',
  'start_at_ms',
  'interval_seconds',
  'stop_after_date_ms',
  'stop_after_runs',
  'scope',
  'callback_url',
  'callback_body',
  'overlap',
  'misfire',
  'status',
  'inactive_reason',
  'submitted_at_ms',
  'next_slot_index',
  'next_run_at_ms',
  'last_ran_at_ms',
  'run_count',
  'error_count',
  'missed_slots',
  'overlap_skipped_slots',
  'updated_at_ms',
] as const;

type JobValues = Record<(typeof JOB_COLUMNS)[number], string | number | null>;

const INSERT_JOB = `INSERT INTO jobs (${JOB_COLUMNS.join(', ')}) VALUES (${JOB_COLUMNS.map((c) => '@' + c).join(', ')})`;

/**
 * The firing grid: N jobs with one interval I (whole seconds), job i anchored at
 * t0 + floor(i * I / N) ms, so together they fire N / I times a second, evenly spread.
 * Every job stops after t0 + D (stop_after date), so exactly the slots in [t0, t0 + D) fire.
 */
export interface Grid {
  n: number;
  intervalS: number;
  t0Ms: number;
  durationMs: number;
}

function startOf(grid: Grid, i: number): number {
  return grid.t0Ms + Math.floor((i * grid.intervalS * 1000) / grid.n);
}

function stopAfterDateOf(grid: Grid): number {
  return grid.t0Ms + grid.durationMs - 1;
}

/**
 * Jobs and interval for a wanted total rate: I = max(1, round(N / R)) seconds, and then
 * N' = R * I jobs so that the rate is exactly R (N' = N whenever R divides N).
 */
export function gridShape(n: number, rate: number): { n: number; intervalS: number } {
  const intervalS = Math.max(1, Math.round(n / rate));
  return { n: Math.round(rate * intervalS), intervalS };
}

/** Every expected slot of the grid: `perJob[i]` lists job i's slot times in [t0, t0 + D). */
export function expectedSlots(grid: Grid): number[][] {
  const endMs = grid.t0Ms + grid.durationMs;
  const perJob: number[][] = [];
  for (let i = 0; i < grid.n; i++) {
    const slots: number[] = [];
    for (let s = startOf(grid, i); s < endMs; s += grid.intervalS * 1000) slots.push(s);
    perJob.push(slots);
  }
  return perJob;
}

/** Insert the grid's jobs into a fresh database; returns job ids by index. */
export function seedGrid(dbFile: string, grid: Grid, callbackUrl: string): string[] {
  const db = openDb(dbFile);
  const sqlite = db.$client;
  try {
    const insert = sqlite.prepare(INSERT_JOB);
    const nowMs = Date.now();
    const stopAfterDateMs = stopAfterDateOf(grid);
    const ids: string[] = [];
    sqlite.transaction(() => {
      for (let i = 0; i < grid.n; i++) {
        const schedule = {
          startAtMs: startOf(grid, i),
          intervalSeconds: grid.intervalS,
          nextSlotIndex: 0,
          runCount: 0,
          stopAfterRuns: null,
          stopAfterDateMs,
          overlap: 'skip',
          misfire: 'coalesce',
        } as const;
        const { nextRunAtMs, finished } = nextRunOf(schedule);
        const id = randomUUID();
        ids.push(id);
        insert.run({
          ...baseRow(id, `bench-${i}`, callbackUrl, { body: { job: i } }, nowMs),
          start_at_ms: schedule.startAtMs,
          interval_seconds: grid.intervalS,
          stop_after_date_ms: stopAfterDateMs,
          status: finished ? 'finished' : 'loaded',
          next_run_at_ms: nextRunAtMs,
        } satisfies JobValues);
      }
    })();
    return ids;
  } finally {
    sqlite.close();
  }
}

function baseRow(id: string, name: string, callbackUrl: string, body: object, nowMs: number): JobValues {
  return {
    id,
    name,
    start_at_ms: nowMs,
    interval_seconds: 86_400,
    stop_after_date_ms: null,
    stop_after_runs: null,
    scope: null,
    callback_url: callbackUrl,
    callback_body: JSON.stringify(body),
    overlap: 'skip',
    misfire: 'coalesce',
    status: 'loaded',
    inactive_reason: null,
    submitted_at_ms: nowMs,
    next_slot_index: 0,
    next_run_at_ms: null,
    last_ran_at_ms: null,
    run_count: 0,
    error_count: 0,
    missed_slots: 0,
    overlap_skipped_slots: 0,
    updated_at_ms: nowMs,
  };
}

export interface ScaleSeed {
  /** Ids of some jobs, for job.get: the first half of them have `runsPerJob` finished runs. */
  sampleIds: string[];
  insertMs: number;
}

/**
 * `n` loaded jobs whose first slot is a year away (daily interval), so nothing fires while
 * the daemon is measured. Ids are sorted before inserting (appends to every index, the fast
 * way to build a big table); submission times rise with them, ten jobs per millisecond.
 * `withRuns` of the jobs get `runsPerJob` finished runs each, so job.get also reads history.
 */
export function seedScale(dbFile: string, n: number, callbackUrl: string, { withRuns = 1_000, runsPerJob = 10, sample = 2_000 } = {}): ScaleSeed {
  const t0 = performance.now();
  const db = openDb(dbFile);
  const sqlite = db.$client;
  try {
    sqlite.pragma('synchronous = OFF');
    const insert = sqlite.prepare(INSERT_JOB);
    const insertRun = sqlite.prepare(
      `INSERT INTO runs (job_id, slot_at_ms, request_id, state, fired_at_ms, retry_until_ms, attempts, http_status, action_id, action_status, action_document, completed_at_ms)
       VALUES (?, ?, ?, 'succeeded', ?, ?, 1, 200, ?, 'SUCCEEDED', ?, ?)`,
    );
    const ids = Array.from({ length: n }, () => randomUUID()).sort();
    const nowMs = Date.now();
    const firstSlotMs = nowMs + 365 * 86_400_000;
    const chunk = 100_000;
    for (let from = 0; from < n; from += chunk) {
      sqlite.transaction(() => {
        for (let i = from; i < Math.min(n, from + chunk); i++) {
          const startAtMs = firstSlotMs + (i % 86_400) * 1000;
          insert.run({
            ...baseRow(ids[i]!, `scale-${i}`, callbackUrl, { body: { job: i } }, nowMs + Math.floor(i / 10)),
            start_at_ms: startAtMs,
            next_run_at_ms: startAtMs,
          } satisfies JobValues);
        }
      })();
    }
    // Every (n / withRuns)-th job gets a history, so the sample spans the whole table.
    const step = Math.max(1, Math.floor(n / Math.max(1, withRuns)));
    const withHistory: string[] = [];
    sqlite.transaction(() => {
      for (let i = 0; i < n && withHistory.length < withRuns; i += step) {
        const id = ids[i]!;
        withHistory.push(id);
        for (let k = 0; k < runsPerJob; k++) {
          const slot = nowMs - (runsPerJob - k) * 86_400_000;
          const doc = JSON.stringify({ action_id: `${id}-${k}`, status: 'SUCCEEDED', details: {} });
          insertRun.run(id, slot, randomUUID(), slot + 1, slot + 43_200_000, `${id}-${k}`, doc, slot + 50);
        }
      }
    })();
    sqlite.pragma('wal_checkpoint(TRUNCATE)');
    const half = Math.floor(sample / 2);
    const others: string[] = [];
    for (let j = 0; others.length < sample - Math.min(half, withHistory.length); j++) {
      others.push(ids[Math.floor((((j * 2654435761) >>> 0) / 2 ** 32) * n)]!);
    }
    return { sampleIds: [...withHistory.slice(0, half), ...others], insertMs: performance.now() - t0 };
  } finally {
    sqlite.close();
  }
}
