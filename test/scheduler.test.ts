import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { getJob } from '../src/daemon/store/jobs.ts';
import { openDb, type Db } from '../src/daemon/store/open.ts';
import { insertRun, updateRun } from '../src/daemon/store/runs.ts';
import { runs, type RunRow } from '../src/daemon/store/schema.ts';
import { JobService } from '../src/daemon/jobs/job-service.ts';
import { formatIso } from '../src/core/time.ts';
import { silentLogger } from '../src/log/logger.ts';
import type { SubmitJobParams } from '../src/contract/protocol.ts';
import { Cancellation } from '../src/util/cancellation.ts';
import { FineWaits, sleepUntil, systemClock } from '../src/core/clock.ts';
import { Scheduler } from '../src/daemon/loop.ts';
import { FakeClock } from './support/clock.ts';
import { tempHome, testConfig } from './support/env.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
// No lead here: these tests watch when runs are claimed relative to their slots. The lead
// (claiming ahead, sending at the slot) has its own test below and in runner.test.ts.
const config = testConfig({ maxTimerDelayMs: 30_000, misfireGraceMs: 60_000, fireLeadMs: 0 });

interface Harness {
  db: Db;
  clock: FakeClock;
  service: JobService;
  scheduler: Scheduler;
  fired: RunRow[];
  /** A new scheduler on the same database, as after a daemon restart. */
  restart(): void;
}

function harness(t: TestContext, clock = new FakeClock(T0), cfg = config): Harness {
  const { paths } = tempHome(t);
  const db = openDb(paths.dbFile);
  t.after(() => db.$client.close());
  const fired: RunRow[] = [];
  const make = () => new Scheduler({ db, clock, log: silentLogger(), config: cfg, onFire: (run) => fired.push(run) });
  const h: Harness = {
    db,
    clock,
    fired,
    scheduler: make(),
    service: new JobService({ db, clock, config: cfg, onScheduleChange: () => h.scheduler.reschedule() }),
    restart() {
      h.scheduler.stop();
      h.scheduler = make();
      h.scheduler.start();
    },
  };
  h.scheduler.start();
  t.after(() => h.scheduler.stop());
  return h;
}

function submit(h: Harness, overrides: Partial<SubmitJobParams> = {}) {
  return h.service.submit({
    name: 'job',
    start: formatIso(T0 + 10_000),
    interval_seconds: 10,
    callback_url: 'http://127.0.0.1:1/run',
    callback_body: { body: {} },
    ...overrides,
  });
}

/** Mark every open run finished, as the runner does when the action ends. */
function completeAll(h: Harness): void {
  for (const run of h.fired) updateRun(h.db, run.id, { state: 'succeeded', completedAtMs: h.clock.now() });
}

function runsOf(h: Harness, jobId: string): RunRow[] {
  return h.db
    .select()
    .from(runs)
    .all()
    .filter((r) => r.jobId === jobId);
}

test('fires exactly on the anchored grid, once per slot', (t) => {
  const h = harness(t);
  const job = submit(h);
  h.clock.advance(9_999);
  assert.equal(h.fired.length, 0, 'nothing before the first slot');
  for (let i = 0; i < 5; i++) {
    h.clock.advance(i === 0 ? 1 : 10_000);
    completeAll(h);
  }
  assert.deepEqual(
    h.fired.map((r) => r.slotAtMs - T0),
    [10_000, 20_000, 30_000, 40_000, 50_000],
  );
  assert.ok(
    h.fired.every((r) => r.firedAtMs === r.slotAtMs),
    'fired at the slot, not after',
  );
  const row = getJob(h.db, job.job_id)!;
  assert.equal(row.runCount, 5);
  assert.equal(row.nextRunAtMs, T0 + 60_000);
});

test('a long outage gives one catch-up run for the latest slot, the skipped ones counted', (t) => {
  const h = harness(t);
  const job = submit(h);
  h.clock.advance(10_000);
  completeAll(h);
  h.scheduler.stop(); // daemon down
  h.clock.advance(3_600_000 + 5_000); // an hour passes
  h.restart();
  assert.equal(h.fired.length, 2);
  assert.equal(h.fired[1]!.slotAtMs, T0 + 3_610_000, 'the latest due slot');
  const row = getJob(h.db, job.job_id)!;
  assert.equal(row.missedSlots, 359);
  assert.equal(row.nextRunAtMs, T0 + 3_620_000);
});

test('misfire=skip after an outage: no catch-up run, waits for the next slot', (t) => {
  const h = harness(t);
  const job = submit(h, { interval_seconds: 600, policy: { misfire: 'skip' } });
  h.clock.advance(10_000);
  completeAll(h);
  h.scheduler.stop();
  h.clock.advance(3 * 3_600_000 + 200_000); // the latest due slot is 200 s old: stale
  h.restart();
  assert.equal(h.fired.length, 1);
  const row = getJob(h.db, job.job_id)!;
  assert.equal(row.missedSlots, 18);
  assert.ok(row.nextRunAtMs! > h.clock.now());
});

test('a wall clock that jumps backwards causes no early and no repeated fire', (t) => {
  const h = harness(t);
  const job = submit(h);
  h.clock.advance(10_000);
  completeAll(h);
  h.clock.advance(10_000);
  completeAll(h);
  assert.equal(h.fired.length, 2);
  h.clock.jump(-3_600_000); // NTP step back one hour
  h.clock.advance(3_600_000 + 10_000 - 1); // wall clock back to just before +30 s
  assert.equal(h.fired.length, 2, 'nothing fired while the wall clock was behind');
  h.clock.advance(1);
  completeAll(h);
  assert.equal(h.fired.length, 3);
  assert.equal(h.fired[2]!.slotAtMs, T0 + 30_000);
  const slots = runsOf(h, job.job_id).map((r) => r.slotAtMs);
  assert.equal(new Set(slots).size, slots.length, 'no slot twice');
  assert.ok(
    h.fired.every((r) => r.firedAtMs >= r.slotAtMs),
    'never early',
  );
});

test('a forward jump (suspend) is noticed within the capped sleep and coalesced', (t) => {
  const h = harness(t);
  const job = submit(h, { interval_seconds: 3600 });
  h.clock.advance(10_000);
  completeAll(h);
  assert.ok(h.clock.nextTimerAtMs()! <= h.clock.now() + config.maxTimerDelayMs, 'sleep capped');
  h.clock.jump(5 * 3_600_000); // machine asleep: the wall clock moved, timers did not run
  h.clock.advance(config.maxTimerDelayMs);
  assert.equal(h.fired.length, 2);
  assert.equal(h.fired[1]!.slotAtMs, T0 + 10_000 + 5 * 3_600_000);
  assert.equal(getJob(h.db, job.job_id)!.missedSlots, 4);
});

test('overlap: a slot is skipped while the previous run is open, and recorded', (t) => {
  const h = harness(t);
  const job = submit(h, { stop_after: { n_runs: 2 } });
  h.clock.advance(10_000);
  h.clock.advance(10_000); // run 1 still open → slot 2 skipped
  assert.equal(h.fired.length, 1);
  let row = getJob(h.db, job.job_id)!;
  assert.equal(row.overlapSkippedSlots, 1);
  assert.equal(row.status, 'loaded', 'a skipped slot does not count toward n_runs');
  completeAll(h);
  h.clock.advance(10_000);
  assert.equal(h.fired.length, 2);
  row = getJob(h.db, job.job_id)!;
  assert.equal(row.status, 'finished');
});

test('overlap=allow fires while the previous run is open', (t) => {
  const h = harness(t);
  submit(h, { policy: { overlap: 'allow' } });
  h.clock.advance(30_000);
  assert.equal(h.fired.length, 3);
});

test('overlap=allow: at maxRunsInFlightPerJob open runs a slot is skipped as the overlap rule skips it, the grid unchanged', (t) => {
  const h = harness(t, new FakeClock(T0), { ...config, maxRunsInFlightPerJob: 2 });
  const job = submit(h, { policy: { overlap: 'allow' } });
  h.clock.advance(40_000); // slots 1-4: two fire, two are skipped at the cap
  assert.equal(h.fired.length, 2);
  let row = getJob(h.db, job.job_id)!;
  assert.equal(row.overlapSkippedSlots, 2);
  assert.equal(row.runCount, 2);
  assert.equal(row.nextRunAtMs, T0 + 50_000, 'the grid is unchanged');
  updateRun(h.db, h.fired[0]!.id, { state: 'succeeded', completedAtMs: h.clock.now() }); // one ends: room for one
  h.clock.advance(10_000);
  assert.deepEqual(
    h.fired.map((r) => r.slotAtMs - T0),
    [10_000, 20_000, 50_000],
  );
  row = getJob(h.db, job.job_id)!;
  assert.equal(row.overlapSkippedSlots, 2);
});

test('stop_after.n_runs and stop_after.date end the job: finished, no next run, no more fires', (t) => {
  const h = harness(t);
  const byRuns = submit(h, { stop_after: { n_runs: 3 } });
  const byDate = submit(h, { name: 'dated', stop_after: { date: formatIso(T0 + 25_000) } });
  for (let i = 0; i < 10; i++) {
    h.clock.advance(10_000);
    completeAll(h);
  }
  for (const [id, expected] of [
    [byRuns.job_id, 3],
    [byDate.job_id, 2],
  ] as const) {
    const row = getJob(h.db, id)!;
    assert.equal(row.status, 'finished');
    assert.equal(row.nextRunAtMs, null);
    assert.equal(runsOf(h, id).length, expected);
  }
});

test('restart in the middle: a new scheduler never fires a handled slot again', (t) => {
  const h = harness(t);
  const job = submit(h, { policy: { overlap: 'allow' } });
  h.clock.advance(10_000);
  h.restart(); // same instant: slot 1 was already taken
  h.restart();
  h.clock.advance(10_000);
  h.restart();
  assert.deepEqual(
    runsOf(h, job.job_id).map((r) => r.slotAtMs - T0),
    [10_000, 20_000],
  );
});

test('the schema refuses a second run for the same (job, slot)', (t) => {
  const h = harness(t);
  const job = submit(h);
  const run = { jobId: job.job_id, slotAtMs: T0, requestId: 'a', firedAtMs: T0, retryUntilMs: T0 };
  assert.ok(insertRun(h.db, run));
  assert.equal(insertRun(h.db, { ...run, requestId: 'b' }), undefined);
  assert.throws(
    () =>
      h.db.$client
        .prepare("INSERT INTO runs (job_id, slot_at_ms, request_id, state, fired_at_ms, retry_until_ms) VALUES (?, ?, 'c', 'pending', 0, 0)")
        .run(job.job_id, T0),
    /UNIQUE/,
  );
});

test('deleted jobs never fire again', (t) => {
  const h = harness(t);
  const job = submit(h);
  h.clock.advance(10_000);
  h.service.delete(job.job_id);
  h.clock.advance(100_000);
  assert.equal(h.fired.length, 1);
  assert.equal(h.service.get(job.job_id).status, 'deleted');
});

test('the next-due lookup uses the index, not a scan', (t) => {
  const h = harness(t);
  const plan = h.db.$client
    .prepare('EXPLAIN QUERY PLAN SELECT * FROM jobs WHERE next_run_at_ms IS NOT NULL AND next_run_at_ms <= ? ORDER BY next_run_at_ms LIMIT 500')
    .all(T0) as { detail: string }[];
  assert.match(plan.map((p) => p.detail).join('\n'), /USING INDEX jobs_next_run_at/);
});

test('a row whose next_run_at disagrees with its slot index is repaired, not fired or spun on', (t) => {
  const h = harness(t);
  const job = submit(h);
  h.clock.advance(10_000);
  completeAll(h);
  // Slot 1 (T0+20 s) is next; pretend next_run_at_ms was edited to the past.
  h.db.$client.prepare('UPDATE jobs SET next_run_at_ms = ? WHERE id = ?').run(T0, job.job_id);
  h.scheduler.tick();
  assert.equal(h.fired.length, 1);
  assert.equal(getJob(h.db, job.job_id)!.nextRunAtMs, T0 + 20_000);
  h.clock.advance(10_000);
  assert.equal(h.fired.length, 2);
});

test('with a lead, runs are claimed before their slot (as of the slot) and no earlier than the lead', (t) => {
  const lead = testConfig({ maxTimerDelayMs: 30_000, misfireGraceMs: 60_000, fireLeadMs: 20 });
  const h = harness(t, new FakeClock(T0), lead);
  submit(h);
  h.clock.advance(10_000 - 21);
  assert.equal(h.fired.length, 0, 'not claimed before slot − lead');
  h.clock.advance(1);
  assert.equal(h.fired.length, 1, 'claimed at slot − lead');
  assert.equal(h.fired[0]!.slotAtMs, T0 + 10_000);
  assert.equal(h.clock.now(), T0 + 10_000 - 20);
  completeAll(h);
  h.clock.advance(10_000);
  assert.deepEqual(
    h.fired.map((r) => r.slotAtMs - T0),
    [10_000, 20_000],
  );
});

test('sleepUntil: a wall clock set back just before the slot, then forward again, wakes within one step, never early', async () => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const cancel = new Cancellation();
  const slotAtMs = clock.now() + 10;
  const turn = () => new Promise((r) => setImmediate(r));
  clock.jump(-3_600_000); // back an hour, 10 ms before the slot
  let woke: boolean | undefined;
  void sleepUntil(clock, slotAtMs, cancel, 1_000).then((v) => (woke = v));
  clock.advance(1_000);
  await turn();
  assert.equal(woke, undefined, 'the slot is an hour away by the wall clock: still asleep');
  clock.jump(3_600_000); // NTP puts it right
  clock.advance(1_000);
  await turn();
  assert.equal(woke, true, 'woken within one capped step, not after the hour');
  assert.ok(clock.now() >= slotAtMs, 'never before the slot');
});

test('sleepUntil on the system clock finishes each wait at its millisecond, never before; a cancelled one ends at once; nothing is left polling', async () => {
  const cancel = new Cancellation();
  const base = Date.now() + 5;
  const slots = Array.from({ length: 20 }, (_, i) => base + i * 3);
  const woke = await Promise.all(slots.map(async (atMs) => ((await sleepUntil(systemClock, atMs, cancel)) ? Date.now() - atMs : null)));
  assert.ok(
    woke.every((d) => d !== null && d >= 0),
    `every wait ended at or after its millisecond: ${woke.join(' ')}`,
  );
  const other = new Cancellation();
  const cancelled = sleepUntil(systemClock, Date.now() + 60_000, other);
  other.abort();
  assert.equal(await cancelled, false);
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(!process.getActiveResourcesInfo().includes('Immediate'), 'the fine wait loop stopped with its last wait');
});

test('a fine wait whose clock is set back hands the wait back to the timer (no spinning through the jump)', async () => {
  let nowMs = 1_000_000;
  const waits = new FineWaits(() => nowMs);
  const cancel = new Cancellation();
  const pending = waits.add(nowMs + 1, cancel);
  nowMs -= 3_600_000;
  assert.equal(await pending, 'early');
  nowMs += 3_600_000 + 1;
  assert.equal(await waits.add(nowMs, cancel), 'due');
  const aborted = new Cancellation();
  const later = waits.add(nowMs + 1, aborted);
  aborted.abort();
  assert.equal(await later, 'cancelled');
});

test('a pass that fails logs nothing about the slots it would have skipped: its transaction was rolled back', (t) => {
  const { paths } = tempHome(t);
  const db = openDb(paths.dbFile);
  t.after(() => db.$client.close());
  const clock = new FakeClock(T0);
  const lines: Array<{ msg: string; missedSlots?: number }> = [];
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const scheduler = new Scheduler({ db, clock, log, config, onFire: () => {} });
  const service = new JobService({ db, clock, config, onScheduleChange: () => scheduler.reschedule() });
  const params = { interval_seconds: 10, callback_url: 'http://127.0.0.1:1/run', callback_body: { body: {} } };
  const a = service.submit({ name: 'a', start: formatIso(T0 + 10_000), ...params });
  const b = service.submit({ name: 'b', start: formatIso(T0 + 10_001), ...params });
  // The daemon was down for five slots; in the first pass job a is decided (its skips
  // noted), then job b's write fails (as on a full disk) and the whole batch rolls back.
  db.$client.exec(`CREATE TRIGGER no_runs BEFORE INSERT ON runs WHEN NEW.job_id = '${b.job_id}' BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
  clock.advance(60_000);
  scheduler.start();
  t.after(() => scheduler.stop());
  assert.ok(
    lines.some((l) => l.msg === 'scheduler pass failed'),
    'the failure is logged',
  );
  assert.equal(lines.filter((l) => l.msg === 'slots skipped').length, 0, 'no skip is reported for a rolled-back pass');
  db.$client.exec('DROP TRIGGER no_runs');
  clock.advance(5_000);
  const skipped = lines.filter((l) => l.msg === 'slots skipped');
  assert.equal(skipped.length, 2, 'the pass that commits reports each skip once');
  assert.equal(getJob(db, a.job_id)!.missedSlots, skipped[0]!.missedSlots);
});
