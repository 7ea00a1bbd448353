/**
 * Retention (issue 7 item 8; SPEC §3): finished runs older than the retention are pruned in
 * small batches with the event loop free in between, so the scheduler keeps firing; a job's
 * n_runs / n_errors stay exact; unfinished runs are never pruned; the retention is
 * configurable (GLOBUS_TIMER_RETENTION_DAYS). Real SQLite in a temp dir, a fake clock.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { resolveConfig } from '../src/config/config.ts';
import { insertJob } from '../src/daemon/store/jobs.ts';
import { openDb, type Db } from '../src/daemon/store/open.ts';
import { recordActionStatus, recordRunFailure } from '../src/daemon/store/runs.ts';
import { pruneJobRuns } from '../src/daemon/store/run-history.ts';
import type { RunRow } from '../src/daemon/store/schema.ts';
import { incrementErrorCount } from '../src/daemon/store/jobs.ts';
import { startRetention } from '../src/daemon/retention.ts';
import { ERROR_CODES, TimerError } from '../src/core/errors.ts';
import { JobService } from '../src/daemon/jobs/job-service.ts';
import { formatIso } from '../src/core/time.ts';
import { silentLogger } from '../src/log/logger.ts';
import type { HistoryEntry, JobDocument } from '../src/contract/protocol.ts';
import { Scheduler } from '../src/daemon/loop.ts';
import { FakeClock } from './support/clock.ts';
import { runCliProcess, startDaemonProcess, tempHome, testConfig } from './support/env.ts';

const DAY = 86_400_000;
const T0 = Date.parse('2026-06-01T00:00:00Z');
const config = testConfig({ fireLeadMs: 0, retentionDays: 90, maxTimerDelayMs: 30_000 });

function freshDb(t: TestContext): Db {
  const { paths } = tempHome(t);
  const db = openDb(paths.dbFile);
  t.after(() => db.$client.close());
  return db;
}

function seedJob(db: Db, name = 'old', counts: { runCount?: number; errorCount?: number } = {}): string {
  const id = randomUUID();
  insertJob(db, {
    id,
    name,
    startAtMs: 0,
    intervalSeconds: 60,
    callbackUrl: 'https://ap.example.org/run',
    callbackBody: { body: {} },
    status: 'finished',
    submittedAtMs: 0,
    nextSlotIndex: 0,
    updatedAtMs: 0,
    ...counts,
  });
  return id;
}

/** `n` runs of `jobId`, one a minute from `fromMs`; `completedAfterMs` null leaves them open. */
function seedRuns(db: Db, jobId: string, n: number, fromMs: number, completedAfterMs: number | null): void {
  const insert = db.$client.prepare(
    `INSERT INTO runs (job_id, slot_at_ms, request_id, fired_at_ms, retry_until_ms, state, attempts, completed_at_ms)
     VALUES (?, ?, ?, ?, ?, ?, 1, ?)`,
  );
  db.transaction(() => {
    for (let k = 0; k < n; k++) {
      const slot = fromMs + k * 60_000;
      insert.run(
        jobId,
        slot,
        randomUUID(),
        slot,
        slot,
        completedAfterMs === null ? 'active' : 'succeeded',
        completedAfterMs === null ? null : slot + completedAfterMs,
      );
    }
  });
}

function countRuns(db: Db, where = '1 = 1', ...params: unknown[]): number {
  return db.$client
    .prepare(`SELECT count(*) FROM runs WHERE ${where}`)
    .pluck()
    .get(...params) as number;
}

const immediate = () => new Promise((r) => setImmediate(r));

test('a large prune goes in batches of at most 500 with the event loop free in between, and the scheduler fires meanwhile', async (t) => {
  const db = freshDb(t);
  const clock = new FakeClock(T0);
  const oldJob = seedJob(db);
  seedRuns(db, oldJob, 20_000, T0 - 200 * DAY, 1_000); // finished ~200 days ago: all go
  seedRuns(db, oldJob, 50, T0 - 10 * DAY, 1_000); // finished 10 days ago: stay
  seedRuns(db, oldJob, 5, T0 - 300 * DAY + 7, null); // never finished, 300 days old: stay
  const isOld = `completed_at_ms < ${T0 - 90 * DAY}`;

  // A 1-second job on the same database, fired by a real scheduler on the same clock. Its
  // runs never end (no runner), so the cap of runs in flight is lifted for it.
  const fired: RunRow[] = [];
  const scheduler = new Scheduler({ db, clock, log: silentLogger(), config: { ...config, maxRunsInFlightPerJob: 1_000 }, onFire: (run) => fired.push(run) });
  const service = new JobService({ db, clock, config, onScheduleChange: () => scheduler.reschedule() });
  service.submit({
    name: 'busy',
    start: formatIso(T0 + 1_000),
    interval_seconds: 1,
    callback_url: 'https://ap.example.org/run',
    callback_body: { body: {} },
    policy: { overlap: 'allow' },
  });
  scheduler.start();
  t.after(() => scheduler.stop());
  const { stop } = startRetention({ db, clock, config, log: silentLogger() });
  t.after(stop);

  assert.equal(countRuns(db, isOld), 20_000);
  clock.advance(1_000); // starts the retention pass (armed at 0 ms): its first batch goes at once
  const seen: { left: number; fired: number }[] = [{ left: countRuns(db, isOld), fired: fired.length }];
  assert.equal(seen[0]!.left, 19_500);
  // Each turn of the event loop: one retention batch at most, then this loop fires the next slot.
  for (let i = 0; i < 200 && seen.at(-1)!.left > 0; i++) {
    await immediate();
    seen.push({ left: countRuns(db, isOld), fired: fired.length });
    clock.advance(1_000);
  }
  assert.equal(seen.at(-1)!.left, 0, 'every old finished run pruned');
  const steps = seen.slice(1).map((s, i) => seen[i]!.left - s.left);
  assert.ok(Math.max(...steps) <= 500, `at most one 500-run batch between two turns of the event loop: ${steps.join(',')}`);
  assert.ok(steps.length >= 39, `the remaining 19,500 runs took ${steps.length} turns`);
  const firedMidPrune = seen.filter((s) => s.left > 0 && s.left < 20_000);
  assert.ok(firedMidPrune.length >= 30, 'the prune spanned many turns');
  assert.ok(firedMidPrune.at(-1)!.fired - firedMidPrune[0]!.fired >= 30, 'the scheduler fired every second while the prune went on');
  assert.deepEqual(
    fired.map((r) => r.slotAtMs),
    fired.map((_, i) => T0 + (i + 1) * 1_000),
    'each fire on its slot, none missed',
  );

  assert.equal(countRuns(db, 'job_id = ? AND completed_at_ms IS NOT NULL', oldJob), 50, 'newer finished runs stay');
  assert.equal(countRuns(db, 'job_id = ? AND completed_at_ms IS NULL', oldJob), 5, 'unfinished runs are never pruned, however old');
});

test('stopping the retention mid-prune stops it between batches and arms nothing more', async (t) => {
  const db = freshDb(t);
  const clock = new FakeClock(T0);
  seedRuns(db, seedJob(db), 3_000, T0 - 200 * DAY, 1_000);
  const { stop } = startRetention({ db, clock, config, log: silentLogger() });
  clock.advance(0);
  await immediate();
  const left = countRuns(db);
  assert.ok(left < 3_000 && left > 0, `a batch or two went: ${left} left`);
  stop();
  for (let i = 0; i < 10; i++) await immediate();
  assert.ok(countRuns(db) >= left - 500, 'at most the batch under way finishes');
  const frozen = countRuns(db);
  clock.advance(60 * 60_000);
  for (let i = 0; i < 10; i++) await immediate();
  assert.equal(countRuns(db), frozen, 'no further pass');
  assert.equal(clock.pendingTimers, 0);
});

test("n_runs and n_errors stay exact when a job's runs are pruned; open runs stay", async (t) => {
  const db = freshDb(t);
  const clock = new FakeClock(T0);
  let k = 0;
  const complete = (run: RunRow) => {
    // What the runner records at the end of a run: every third fails.
    if (k++ % 3 === 2) {
      recordRunFailure(db, run.id, { code: 'ACTION_HTTP', message: 'refused' }, clock.now(), 400);
      incrementErrorCount(db, run.jobId);
    } else {
      recordActionStatus(db, run.id, {
        state: 'succeeded',
        httpStatus: 202,
        actionId: `a${run.id}`,
        actionStatus: 'SUCCEEDED',
        actionDocument: { status: 'SUCCEEDED' },
        completedAtMs: clock.now(),
      });
    }
  };
  const scheduler = new Scheduler({ db, clock, log: silentLogger(), config, onFire: complete });
  const service = new JobService({ db, clock, config, onScheduleChange: () => scheduler.reschedule(), fireRun: complete });
  const job = service.submit({
    name: 'counted',
    start: formatIso(T0 + 60_000),
    interval_seconds: 60,
    callback_url: 'https://ap.example.org/run',
    callback_body: { body: {} },
  });
  scheduler.start();
  t.after(() => scheduler.stop());
  for (let i = 0; i < 300; i++) clock.advance(60_000);
  for (let i = 0; i < 6; i++) service.runNow({ job_id: job.job_id }); // manual runs count too
  // One run left open (still polling), and the job paused so nothing else fires.
  service.runNow({ job_id: job.job_id });
  db.$client.prepare("UPDATE runs SET state = 'active', completed_at_ms = NULL, error = NULL WHERE id = (SELECT max(id) FROM runs)").run();
  service.pause({ job_id: job.job_id });
  const before: JobDocument = service.get(job.job_id);
  assert.equal(before.n_runs, 307);
  assert.equal(before.n_errors, 102);
  assert.equal(countRuns(db), 307);

  // 91 days later: every finished run is past the retention.
  const later = new FakeClock(clock.now() + 91 * DAY);
  const { stop } = startRetention({ db, clock: later, config, log: silentLogger() });
  t.after(stop);
  later.advance(0);
  for (let i = 0; i < 20 && countRuns(db) > 1; i++) await immediate();
  assert.equal(countRuns(db), 1, 'only the open run is left');
  const after = service.get(job.job_id);
  assert.equal(after.n_runs, before.n_runs);
  assert.equal(after.n_errors, before.n_errors);
  assert.deepEqual(after.skipped_slots, before.skipped_slots);
  assert.deepEqual(
    after.results.data.map((r) => r.run_state),
    ['active'],
  );
  assert.deepEqual(
    service.history({ job_id: job.job_id }).runs.map((r) => r.run_state),
    ['active'],
  );
});

test('per-job retention: at most a batch per call, oldest first, never an open run, converging on the limit', (t) => {
  const db = freshDb(t);
  const job = seedJob(db);
  seedRuns(db, job, 5, T0 - 100 * DAY, null); // the oldest five still open
  seedRuns(db, job, 3_000, T0 - 3 * DAY, 1_000);
  const other = seedJob(db, 'other');
  seedRuns(db, other, 20, T0 - 3 * DAY, 1_000);
  const deleted: number[] = [];
  for (let n = pruneJobRuns(db, job, 100); n > 0; n = pruneJobRuns(db, job, 100)) deleted.push(n);
  assert.deepEqual(deleted, [500, 500, 500, 500, 500, 400]);
  assert.equal(countRuns(db, 'job_id = ?', job), 105, 'the newest 100, and the 5 open ones');
  assert.equal(countRuns(db, 'job_id = ? AND completed_at_ms IS NULL', job), 5);
  assert.equal(countRuns(db, 'job_id = ?', other), 20, "another job's runs are untouched");
  const newest = db.$client.prepare('SELECT min(slot_at_ms) FROM runs WHERE job_id = ? AND completed_at_ms IS NOT NULL').pluck().get(job) as number;
  assert.equal(newest, T0 - 3 * DAY + 2_900 * 60_000, 'the newest are the ones kept');
});

test('the retention is configurable: GLOBUS_TIMER_RETENTION_DAYS, checked at start', () => {
  assert.equal(resolveConfig({}).retentionDays, 90, 'default 90 days');
  assert.equal(resolveConfig({ GLOBUS_TIMER_RETENTION_DAYS: '30' }).retentionDays, 30);
  assert.equal(resolveConfig({ GLOBUS_TIMER_RETENTION_RUNS_PER_JOB: '50' }).retentionRunsPerJob, 50);
  for (const bad of ['thirty', '-1']) {
    assert.throws(
      () => resolveConfig({ GLOBUS_TIMER_RETENTION_DAYS: bad }),
      (e: unknown) => e instanceof TimerError && e.code === ERROR_CODES.INVALID_INPUT,
    );
  }
});

test('a daemon started with GLOBUS_TIMER_RETENTION_DAYS=30 prunes runs finished 31 days ago and keeps those of 29 days ago', async (t) => {
  const { env, paths } = tempHome(t);
  const now = Date.now();
  const db = openDb(paths.dbFile);
  const job = seedJob(db, 'kept', { runCount: 1_047, errorCount: 13 });
  seedRuns(db, job, 40, now - 31 * DAY - 60 * 60_000, 1_000); // finished 31 days ago
  seedRuns(db, job, 7, now - 29 * DAY, 1_000); // finished 29 days ago
  db.$client.close();

  const daemon = await startDaemonProcess(t, { ...env, GLOBUS_TIMER_RETENTION_DAYS: '30', GLOBUS_TIMER_NO_AUTOSTART: '1' });
  // The first pass runs as the daemon starts.
  let runs: HistoryEntry[] = [];
  for (let i = 0; i < 50; i++) {
    const r = await runCliProcess(['job', 'history', job, '--limit', '100', '--format', 'json'], env);
    assert.equal(r.code, 0, r.stderr);
    runs = (JSON.parse(r.stdout) as { runs: HistoryEntry[] }).runs;
    if (runs.length === 7) break;
  }
  assert.equal(runs.length, 7);
  assert.ok(runs.every((r) => Date.parse(r.completed_at!) > now - 30 * DAY));
  const line = daemon.logLines().find((l) => l.msg === 'pruned old runs');
  assert.deepEqual([line?.deleted, line?.retentionDays], [40, 30]);
  const status = JSON.parse((await runCliProcess(['job', 'status', job, '--format', 'json'], env)).stdout) as JobDocument;
  assert.deepEqual([status.n_runs, status.n_errors], [1_047, 13], 'the totals are counters on the job row, not a count of the runs kept');
});
