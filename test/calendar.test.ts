/**
 * Calendar schedules (SPEC §2 rule 10): pure functions with fixed dates (DST in a northern
 * and a southern zone, both directions), the scheduler with the injected clock, and one
 * submit through the real CLI against a real daemon.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { getJob } from '../src/daemon/store/jobs.ts';
import { openDb } from '../src/daemon/store/open.ts';
import { updateRun } from '../src/daemon/store/runs.ts';
import type { RunRow } from '../src/daemon/store/schema.ts';
import { JobService } from '../src/daemon/jobs/job-service.ts';
import { localTimezone } from '../src/core/time.ts';
import { silentLogger } from '../src/log/logger.ts';
import type { JobDocument, SubmitJobParams } from '../src/contract/protocol.ts';
import {
  checkCron,
  checkTimezone,
  cronFor,
  formatIsoInZone,
  initialOccurrence,
  latestOccurrence,
  MAX_COUNTED_OCCURRENCES,
  occurrenceAfter,
  occurrenceAtOrBefore,
} from '../src/core/calendar.ts';
import { Scheduler } from '../src/daemon/loop.ts';
import { decide, nextRunOf, upcomingSlots, type ScheduleState } from '../src/core/slots.ts';
import { scheduleParamsFromFlags } from '../src/cli/schedule-flags.ts';
import { FakeClock } from './support/clock.ts';
import { runCliProcess, startDaemonProcess, tempHome, testConfig } from './support/env.ts';
import { startFakeProvider } from './support/provider.ts';

const GRACE = 60_000;
const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | null | undefined) => (ms == null ? ms : new Date(ms).toISOString());

function calJob(cron: string, timezone: string | null, nextSlotAtMs: number, overrides: Partial<ScheduleState> = {}): ScheduleState {
  return {
    startAtMs: at('2020-01-01T00:00:00Z'),
    intervalSeconds: 0,
    cron,
    timezone,
    nextSlotIndex: 0,
    nextSlotAtMs,
    runCount: 0,
    stopAfterRuns: null,
    stopAfterDateMs: null,
    overlap: 'skip',
    misfire: 'coalesce',
    ...overrides,
  };
}

/** Step the pure scheduler minute by minute from `fromMs` to `toMs`: the slots it fires. */
function fireThrough(job: ScheduleState, fromMs: number, toMs: number, stepMs = 60_000): number[] {
  const fired: number[] = [];
  let j = { ...job };
  for (let now = fromMs; now <= toMs; now += stepMs) {
    const d = decide(j, now, { hasOpenRun: false, misfireGraceMs: GRACE });
    if (!d) continue;
    assert.equal(d.missedSlots, 0, `nothing missed at ${iso(now)}`);
    if (d.fire) fired.push(d.fire.slotAtMs);
    j = { ...j, nextSlotIndex: d.nextSlotIndex, nextSlotAtMs: d.nextSlotAtMs, runCount: j.runCount + (d.fire ? 1 : 0) };
  }
  return fired;
}

// --- DST: fixed-time daily jobs ------------------------------------------------------

test('Europe/Berlin spring forward: 02:30 daily runs once that night, at 03:00 CEST', () => {
  const cron = cronFor('30 2 * * *', 'Europe/Berlin');
  // 2026-03-29 02:00 CET → 03:00 CEST: 02:30 does not exist.
  assert.equal(iso(occurrenceAfter(cron, at('2026-03-28T12:00:00Z'))), '2026-03-29T01:00:00.000Z');
  const job = calJob('30 2 * * *', 'Europe/Berlin', at('2026-03-28T01:30:00Z'));
  const fired = fireThrough(job, at('2026-03-28T01:00:00Z'), at('2026-03-30T03:00:00Z'));
  assert.deepEqual(fired.map(iso), ['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']);
  assert.deepEqual(
    fired.map((ms) => formatIsoInZone(ms, 'Europe/Berlin')),
    ['2026-03-28T02:30:00+01:00', '2026-03-29T03:00:00+02:00', '2026-03-30T02:30:00+02:00'],
  );
});

test('Europe/Berlin fall back: 02:30 daily runs exactly once in the repeated hour (the first, CEST)', () => {
  const job = calJob('30 2 * * *', 'Europe/Berlin', at('2026-10-24T00:30:00Z'));
  const fired = fireThrough(job, at('2026-10-24T00:00:00Z'), at('2026-10-26T03:00:00Z'));
  assert.deepEqual(
    fired.map((ms) => formatIsoInZone(ms, 'Europe/Berlin')),
    ['2026-10-24T02:30:00+02:00', '2026-10-25T02:30:00+02:00', '2026-10-26T02:30:00+01:00'],
  );
  // The second 02:30 (01:30Z, CET) is not a slot: at that instant nothing is due.
  const after = { ...job, nextSlotIndex: 2, nextSlotAtMs: at('2026-10-26T01:30:00Z') };
  assert.equal(decide(after, at('2026-10-25T01:30:00Z'), { hasOpenRun: false, misfireGraceMs: GRACE }), null);
});

test('America/New_York: 02:30 daily runs at 03:00 EDT on spring forward; 01:30 runs once on fall back', () => {
  const spring = fireThrough(calJob('30 2 * * *', 'America/New_York', at('2026-03-07T07:30:00Z')), at('2026-03-07T07:00:00Z'), at('2026-03-09T08:00:00Z'));
  assert.deepEqual(
    spring.map((ms) => formatIsoInZone(ms, 'America/New_York')),
    ['2026-03-07T02:30:00-05:00', '2026-03-08T03:00:00-04:00', '2026-03-09T02:30:00-04:00'],
  );
  const fall = fireThrough(calJob('30 1 * * *', 'America/New_York', at('2026-10-31T05:30:00Z')), at('2026-10-31T05:00:00Z'), at('2026-11-02T08:00:00Z'));
  assert.deepEqual(
    fall.map((ms) => formatIsoInZone(ms, 'America/New_York')),
    ['2026-10-31T01:30:00-04:00', '2026-11-01T01:30:00-04:00', '2026-11-02T01:30:00-05:00'],
  );
});

test('Australia/Sydney spring forward (October): 02:30 daily runs once, at 03:00 AEDT', () => {
  // 2026-10-04 02:00 AEST → 03:00 AEDT.
  const fired = fireThrough(calJob('30 2 * * *', 'Australia/Sydney', at('2026-10-02T16:30:00Z')), at('2026-10-02T16:00:00Z'), at('2026-10-05T15:00:00Z'));
  assert.deepEqual(
    fired.map((ms) => formatIsoInZone(ms, 'Australia/Sydney')),
    ['2026-10-03T02:30:00+10:00', '2026-10-04T03:00:00+11:00', '2026-10-05T02:30:00+11:00'],
  );
});

test('Australia/Sydney fall back (April): 02:30 daily runs exactly once in the repeated hour', () => {
  // 2026-04-05 03:00 AEDT → 02:00 AEST: 02:30 happens at 15:30Z and again at 16:30Z.
  const fired = fireThrough(calJob('30 2 * * *', 'Australia/Sydney', at('2026-04-03T15:30:00Z')), at('2026-04-03T15:00:00Z'), at('2026-04-05T17:00:00Z'));
  assert.deepEqual(
    fired.map((ms) => formatIsoInZone(ms, 'Australia/Sydney')),
    ['2026-04-04T02:30:00+11:00', '2026-04-05T02:30:00+11:00', '2026-04-06T02:30:00+10:00'],
  );
});

test('a list of fixed times is fixed-time too: each time runs once a day through both DST changes', () => {
  const spring = fireThrough(calJob('30 2,14 * * *', 'Europe/Berlin', at('2026-03-28T13:30:00Z')), at('2026-03-28T13:00:00Z'), at('2026-03-30T12:00:00Z'));
  assert.deepEqual(
    spring.map((ms) => formatIsoInZone(ms, 'Europe/Berlin')),
    ['2026-03-28T14:30:00+01:00', '2026-03-29T03:00:00+02:00', '2026-03-29T14:30:00+02:00', '2026-03-30T02:30:00+02:00'],
  );
  const fall = fireThrough(calJob('30 2,14 * * *', 'Europe/Berlin', at('2026-10-24T12:30:00Z')), at('2026-10-24T12:00:00Z'), at('2026-10-26T02:00:00Z'));
  assert.deepEqual(
    fall.map((ms) => formatIsoInZone(ms, 'Europe/Berlin')),
    ['2026-10-24T14:30:00+02:00', '2026-10-25T02:30:00+02:00', '2026-10-25T14:30:00+01:00', '2026-10-26T02:30:00+01:00'],
  );
  // The bounded catch-up (previousRuns) agrees with stepping forward across the repeated hour.
  const cron = cronFor('30 2,14 * * *', 'Europe/Berlin');
  assert.equal(iso(occurrenceAtOrBefore(cron, at('2026-10-25T02:00:00Z'))), '2026-10-25T00:30:00.000Z');
  assert.equal(iso(occurrenceAtOrBefore(cron, at('2026-03-29T02:00:00Z'))), '2026-03-29T01:00:00.000Z');
});

test('a wildcard-hour job follows elapsed time across DST: hourly runs every 60 minutes, twice in the repeated hour', () => {
  const fall = fireThrough(calJob('30 * * * *', 'Europe/Berlin', at('2026-10-24T23:30:00Z')), at('2026-10-24T23:00:00Z'), at('2026-10-25T02:45:00Z'));
  assert.deepEqual(fall.map(iso), ['2026-10-24T23:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-25T01:30:00.000Z', '2026-10-25T02:30:00.000Z']);
  const spring = fireThrough(calJob('30 * * * *', 'Europe/Berlin', at('2026-03-28T23:30:00Z')), at('2026-03-28T23:00:00Z'), at('2026-03-29T02:45:00Z'));
  assert.equal(spring.length, 4, 'no hour is lost: 02:30 local does not exist, but 4 elapsed hours give 4 runs');
});

// --- decide() rules for calendar jobs ---------------------------------------------------

test('calendar: never early, never twice (a wall clock set back fires nothing)', () => {
  const job = calJob('0 2 * * *', 'UTC', at('2026-05-02T02:00:00Z'), { nextSlotIndex: 7 });
  assert.equal(decide(job, at('2026-05-02T01:59:59.999Z'), { hasOpenRun: false, misfireGraceMs: GRACE }), null);
  assert.equal(decide(job, at('2026-05-01T02:00:00Z'), { hasOpenRun: false, misfireGraceMs: GRACE }), null);
  const d = decide(job, at('2026-05-02T02:00:00Z'), { hasOpenRun: false, misfireGraceMs: GRACE });
  assert.deepEqual(d?.fire, { slotIndex: 7, slotAtMs: at('2026-05-02T02:00:00Z') });
  assert.equal(d?.nextSlotIndex, 8);
  assert.equal(iso(d?.nextSlotAtMs), '2026-05-03T02:00:00.000Z');
  assert.equal(d?.nextRunAtMs, d?.nextSlotAtMs);
});

test('calendar outage: one catch-up run for the latest occurrence, the missed ones counted exactly', () => {
  const job = calJob('0 2 * * *', 'Europe/Berlin', at('2026-05-01T00:00:00Z'));
  const d = decide(job, at('2026-05-11T06:00:00Z'), { hasOpenRun: false, misfireGraceMs: GRACE });
  assert.ok(d?.fire);
  assert.equal(iso(d.fire.slotAtMs), '2026-05-11T00:00:00.000Z');
  assert.equal(d.missedSlots, 10);
  assert.equal(d.nextSlotIndex, 11);
  assert.equal(iso(d.nextRunAtMs), '2026-05-12T00:00:00.000Z');
});

test('calendar outage longer than the counting cap: bounded work, the latest occurrence, an estimated count', () => {
  const job = calJob('* * * * *', 'UTC', at('2026-01-01T00:00:00Z'));
  const t0 = performance.now();
  const d = decide(job, at('2026-01-31T00:00:30Z'), { hasOpenRun: false, misfireGraceMs: GRACE });
  const ms = performance.now() - t0;
  assert.ok(d?.fire);
  assert.equal(iso(d.fire.slotAtMs), '2026-01-31T00:00:00.000Z');
  assert.equal(d.missedSlots, 30 * 1440, 'uniform spacing: the estimate is exact');
  assert.ok(ms < 500, `bounded: ${ms} ms`);
  // Irregular spacing (weekdays only): still the latest occurrence; the count is close.
  const weekdays = calJob('0 9 * * 1-5', 'UTC', at('2026-01-01T09:00:00Z'));
  const w = decide(weekdays, at('2027-01-01T12:00:00Z'), { hasOpenRun: false, misfireGraceMs: GRACE });
  assert.equal(iso(w?.fire?.slotAtMs), '2027-01-01T09:00:00.000Z');
  assert.ok(Math.abs(w!.missedSlots - 261) <= 3, `about 261 weekdays missed: ${w!.missedSlots}`);
  const few = latestOccurrence(cronFor('0 9 * * 1-5', 'UTC'), at('2026-01-01T09:00:00Z'), at('2026-02-01T00:00:00Z'));
  assert.ok(few.passed < MAX_COUNTED_OCCURRENCES);
  assert.equal(few.passed, 21, 'exact below the cap: 22 weekdays in January 2026, the last one is the candidate');
});

test('calendar misfire=skip: a stale occurrence is not fired; the job waits for the next one', () => {
  const job = calJob('0 * * * *', 'UTC', at('2026-05-01T00:00:00Z'), { misfire: 'skip' });
  const d = decide(job, at('2026-05-01T05:10:00Z'), { hasOpenRun: false, misfireGraceMs: GRACE });
  assert.equal(d?.fire, null);
  assert.equal(d?.missedSlots, 6);
  assert.equal(iso(d?.nextRunAtMs), '2026-05-01T06:00:00.000Z');
  const onTime = decide(job, at('2026-05-01T00:00:05Z'), { hasOpenRun: false, misfireGraceMs: GRACE });
  assert.equal(iso(onTime?.fire?.slotAtMs), '2026-05-01T00:00:00.000Z');
});

test('calendar overlap=skip skips the occurrence while a run is open; allow fires', () => {
  const job = calJob('0 * * * *', 'UTC', at('2026-05-01T03:00:00Z'));
  const skipped = decide(job, at('2026-05-01T03:00:00Z'), { hasOpenRun: true, misfireGraceMs: GRACE });
  assert.equal(skipped?.fire, null);
  assert.equal(skipped?.overlapSkippedSlots, 1);
  assert.equal(iso(skipped?.nextRunAtMs), '2026-05-01T04:00:00.000Z');
  const allowed = decide({ ...job, overlap: 'allow' }, at('2026-05-01T03:00:00Z'), { hasOpenRun: true, misfireGraceMs: GRACE });
  assert.ok(allowed?.fire);
});

test('calendar end conditions: n_runs counts scheduled runs only; stop_after.date bounds the catch-up', () => {
  const job = calJob('0 * * * *', 'UTC', at('2026-05-01T03:00:00Z'), { stopAfterRuns: 3, runCount: 4, manualRunCount: 2 });
  const d = decide(job, at('2026-05-01T03:00:00Z'), { hasOpenRun: false, misfireGraceMs: GRACE });
  assert.ok(d?.fire);
  assert.equal(d.finished, true, '2 scheduled + this one = 3');
  assert.equal(d.nextRunAtMs, null);
  assert.equal(iso(d.nextSlotAtMs), '2026-05-01T04:00:00.000Z', 'the next slot is kept even when finished');

  const dated = calJob('0 * * * *', 'UTC', at('2026-05-01T03:00:00Z'), { stopAfterDateMs: at('2026-05-01T05:30:00Z') });
  const late = decide(dated, at('2026-05-02T00:00:00Z'), { hasOpenRun: false, misfireGraceMs: GRACE });
  assert.equal(iso(late?.fire?.slotAtMs), '2026-05-01T05:00:00.000Z', 'the last occurrence before the date');
  assert.equal(late?.missedSlots, 2);
  assert.equal(late?.finished, true);
  const past = decide({ ...dated, nextSlotAtMs: at('2026-05-01T06:00:00Z') }, at('2026-05-02T00:00:00Z'), { hasOpenRun: false, misfireGraceMs: GRACE });
  assert.equal(past?.fire, null);
  assert.equal(past?.finished, true);
  assert.deepEqual(nextRunOf({ ...dated, nextSlotAtMs: null }), { nextRunAtMs: null, finished: true });
});

test('an expression with no further occurrence finishes the job after its last slot', () => {
  const job = calJob('0 0 0 1 1 * 2027', 'UTC', at('2027-01-01T00:00:00Z'));
  const d = decide(job, at('2027-01-01T00:00:00Z'), { hasOpenRun: false, misfireGraceMs: GRACE });
  assert.ok(d?.fire);
  assert.equal(d.finished, true);
  assert.equal(d.nextSlotAtMs, null);
});

test('initial occurrence: at or after the start; a past one fires only within the grace period', () => {
  const cron = cronFor('0 * * * *', 'UTC');
  assert.equal(iso(initialOccurrence(cron, at('2026-05-01T03:00:00Z'), at('2026-04-01T00:00:00Z'), GRACE)), '2026-05-01T03:00:00.000Z');
  assert.equal(iso(initialOccurrence(cron, at('2026-05-01T02:10:00Z'), at('2026-04-01T00:00:00Z'), GRACE)), '2026-05-01T03:00:00.000Z');
  assert.equal(iso(initialOccurrence(cron, at('2026-05-01T00:00:00Z'), at('2026-05-01T03:00:30Z'), GRACE)), '2026-05-01T03:00:00.000Z', 'within grace');
  assert.equal(iso(initialOccurrence(cron, at('2026-05-01T00:00:00Z'), at('2026-05-01T03:05:00Z'), GRACE)), '2026-05-01T04:00:00.000Z');
  assert.equal(iso(occurrenceAtOrBefore(cron, at('2026-05-01T03:00:00Z'))), '2026-05-01T03:00:00.000Z');
  assert.equal(iso(occurrenceAtOrBefore(cron, at('2026-05-01T02:59:59.999Z'))), '2026-05-01T02:00:00.000Z');
});

test('cron expressions and zones are checked with one-line messages', () => {
  assert.equal(checkCron('  0  2 * * * ', null), '0 2 * * *');
  assert.equal(checkCron('*/5 * * * * *', 'Europe/Berlin'), '*/5 * * * * *');
  assert.throws(() => checkCron('0 2 * *', null), /invalid cron expression "0 2 \* \*"/);
  assert.throws(() => checkCron('61 * * * *', null), /invalid cron expression/);
  assert.throws(() => checkCron('', null), /invalid cron expression/);
  assert.throws(() => checkCron('0 0 30 2 *', null), /never occurs/);
  assert.equal(checkTimezone('europe/berlin'), 'Europe/Berlin');
  assert.equal(checkTimezone('UTC'), 'UTC');
  assert.throws(() => checkTimezone('Mars/Olympus_Mons'), /unknown time zone "Mars\/Olympus_Mons"/);
  assert.throws(() => checkTimezone(''), /unknown time zone/);
  for (const fn of [() => checkCron('nope', null), () => checkTimezone('Nowhere/None')]) {
    try {
      fn();
    } catch (err) {
      assert.equal((err as { code?: string }).code, 'INVALID_INPUT');
      assert.ok(!(err as Error).message.includes('\n'));
    }
  }
});

test('CLI schedule flags: exactly one of --interval and --cron; --timezone only with --cron', () => {
  const base = { name: 'n' };
  assert.deepEqual(
    { ...scheduleParamsFromFlags({ ...base, cron: '0 2 * * *', timezone: 'europe/berlin' }), policy: undefined },
    { name: 'n', start: null, cron: '0 2 * * *', timezone: 'Europe/Berlin', stop_after: null, policy: undefined },
  );
  assert.throws(() => scheduleParamsFromFlags({ ...base, interval: '1h', cron: '0 2 * * *' }), /either --interval or --cron/);
  assert.throws(() => scheduleParamsFromFlags(base), /--interval .* or --cron/);
  assert.throws(() => scheduleParamsFromFlags({ ...base, interval: '1h', timezone: 'UTC' }), /--timezone applies only to --cron/);
  assert.throws(() => scheduleParamsFromFlags({ ...base, cron: '0 2 * * *', timezone: 'Not/AZone' }), /unknown time zone/);
  assert.throws(() => scheduleParamsFromFlags({ ...base, cron: '0 25 * * *' }), /invalid cron expression/);
});

test('formatIsoInZone writes the zone offset, milliseconds only when there are some', () => {
  assert.equal(formatIsoInZone(at('2026-07-01T12:00:00Z'), 'America/New_York'), '2026-07-01T08:00:00-04:00');
  assert.equal(formatIsoInZone(at('2026-07-01T12:00:00.250Z'), 'Asia/Kolkata'), '2026-07-01T17:30:00.250+05:30');
  assert.equal(formatIsoInZone(at('2026-07-01T00:00:00Z'), 'UTC'), '2026-07-01T00:00:00+00:00');
});

// --- upcomingSlots (job next) -------------------------------------------------------------

test('upcomingSlots: calendar slots through DST, end conditions noted', () => {
  const job = calJob('30 2 * * *', 'Europe/Berlin', at('2026-03-28T01:30:00Z'));
  const { slotsAtMs, end } = upcomingSlots(job, at('2026-03-27T12:00:00Z'), 3, GRACE);
  assert.deepEqual(
    slotsAtMs.map((ms) => formatIsoInZone(ms, 'Europe/Berlin')),
    ['2026-03-28T02:30:00+01:00', '2026-03-29T03:00:00+02:00', '2026-03-30T02:30:00+02:00'],
  );
  assert.equal(end, null);
  const capped = upcomingSlots({ ...job, stopAfterRuns: 5, runCount: 6, manualRunCount: 3 }, at('2026-03-27T12:00:00Z'), 5, GRACE);
  assert.equal(capped.slotsAtMs.length, 2, '3 scheduled runs so far, 5 allowed');
  assert.equal(capped.end, 'n_runs');
  const dated = upcomingSlots({ ...job, stopAfterDateMs: at('2026-03-29T12:00:00Z') }, at('2026-03-27T12:00:00Z'), 5, GRACE);
  assert.equal(dated.slotsAtMs.length, 2);
  assert.equal(dated.end, 'date');
  const last = upcomingSlots(calJob('0 0 0 1 1 * 2027', 'UTC', at('2027-01-01T00:00:00Z')), at('2026-01-01T00:00:00Z'), 5, GRACE);
  assert.deepEqual(last, { slotsAtMs: [at('2027-01-01T00:00:00Z')], end: 'no_occurrence' });
});

test('upcomingSlots: interval jobs on their grid; an overdue slot comes first as the catch-up', () => {
  const S = at('2026-01-01T00:00:00Z');
  const job: ScheduleState = {
    startAtMs: S,
    intervalSeconds: 3600,
    nextSlotIndex: 2,
    runCount: 2,
    stopAfterRuns: null,
    stopAfterDateMs: null,
    overlap: 'skip',
    misfire: 'coalesce',
  };
  assert.deepEqual(upcomingSlots(job, S + 3_600_000, 3, GRACE).slotsAtMs, [S + 7_200_000, S + 10_800_000, S + 14_400_000]);
  // Down for a while: the latest due slot is the catch-up, then the grid.
  assert.deepEqual(upcomingSlots(job, S + 5.5 * 3_600_000, 2, GRACE).slotsAtMs, [S + 5 * 3_600_000, S + 6 * 3_600_000]);
  // ...with misfire=skip the stale slot is not fired.
  assert.deepEqual(upcomingSlots({ ...job, misfire: 'skip' }, S + 5.5 * 3_600_000, 2, GRACE).slotsAtMs, [S + 6 * 3_600_000, S + 7 * 3_600_000]);
  assert.deepEqual(upcomingSlots({ ...job, stopAfterRuns: 3 }, S, 5, GRACE), { slotsAtMs: [S + 7_200_000], end: 'n_runs' });
});

// --- the scheduler with the injected clock --------------------------------------------

const T0 = at('2026-03-27T12:00:00Z');
const config = testConfig({ maxTimerDelayMs: 30_000, misfireGraceMs: 60_000, fireLeadMs: 0, retryWindowMaxMs: 45 * 60_000 });

function harness(t: TestContext, clock = new FakeClock(T0)) {
  const { paths } = tempHome(t);
  const db = openDb(paths.dbFile);
  t.after(() => db.$client.close());
  const fired: RunRow[] = [];
  const make = () => new Scheduler({ db, clock, log: silentLogger(), config, onFire: (run) => fired.push(run) });
  const h = {
    db,
    clock,
    fired,
    scheduler: make(),
    service: undefined as unknown as JobService,
    restart() {
      h.scheduler.stop();
      h.scheduler = make();
      h.scheduler.start();
    },
    completeAll() {
      for (const run of fired) updateRun(db, run.id, { state: 'succeeded', completedAtMs: clock.now() });
    },
  };
  h.service = new JobService({ db, clock, config, onScheduleChange: () => h.scheduler.reschedule() });
  h.scheduler.start();
  t.after(() => h.scheduler.stop());
  return h;
}

function submitCal(h: ReturnType<typeof harness>, overrides: Partial<SubmitJobParams> = {}): JobDocument {
  return h.service.submit({
    name: 'nightly',
    cron: '30 2 * * *',
    timezone: 'Europe/Berlin',
    callback_url: 'http://127.0.0.1:1/run',
    callback_body: { body: {} },
    ...overrides,
  });
}

test('scheduler: a calendar job fires at its occurrences through the DST night, next_slot_at_ms in step', (t) => {
  const h = harness(t);
  const job = submitCal(h);
  assert.equal(job.interval, null);
  assert.equal(job.cron, '30 2 * * *');
  assert.equal(job.timezone, 'Europe/Berlin');
  assert.equal(job.next_run, '2026-03-28T01:30:00+00:00');
  assert.equal(getJob(h.db, job.job_id)!.nextSlotAtMs, at('2026-03-28T01:30:00Z'));
  for (let i = 0; i < 4 * 24 * 2; i++) {
    h.clock.advance(30 * 60_000);
    h.completeAll();
  }
  assert.deepEqual(
    h.fired.map((r) => iso(r.slotAtMs)),
    ['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z', '2026-03-31T00:30:00.000Z'],
  );
  assert.ok(
    h.fired.every((r) => r.firedAtMs === r.slotAtMs),
    'fired at the slot',
  );
  // Retry window: min(45 min, half the gap to the next occurrence).
  assert.equal(h.fired[0]!.retryUntilMs - h.fired[0]!.firedAtMs, 45 * 60_000);
  const row = getJob(h.db, job.job_id)!;
  assert.equal(row.runCount, 4);
  assert.equal(row.nextSlotIndex, 4);
  assert.equal(iso(row.nextSlotAtMs), '2026-04-01T00:30:00.000Z');
  assert.equal(row.nextRunAtMs, row.nextSlotAtMs);
});

test('scheduler: a calendar run retries for half the gap to its next occurrence when that is shorter', (t) => {
  const h = harness(t);
  submitCal(h, { cron: '*/10 * * * *', timezone: 'UTC' });
  h.clock.advance(10 * 60_000);
  assert.equal(h.fired.length, 1);
  assert.equal(h.fired[0]!.retryUntilMs - h.fired[0]!.firedAtMs, 5 * 60_000);
});

test('scheduler: a calendar job down across several occurrences coalesces into one run, then stays on the calendar', (t) => {
  const h = harness(t);
  const job = submitCal(h, { cron: '0 * * * *', timezone: 'UTC' });
  h.clock.advance(3_600_000);
  h.completeAll();
  assert.equal(h.fired.length, 1);
  h.scheduler.stop();
  h.clock.advance(5 * 3_600_000 + 10 * 60_000);
  h.restart();
  assert.equal(h.fired.length, 2);
  assert.equal(iso(h.fired[1]!.slotAtMs), '2026-03-27T18:00:00.000Z');
  const row = getJob(h.db, job.job_id)!;
  assert.equal(row.missedSlots, 4);
  assert.equal(iso(row.nextRunAtMs), '2026-03-27T19:00:00.000Z');
  h.completeAll();
  h.clock.advance(50 * 60_000);
  assert.equal(h.fired.length, 3);
  assert.equal(iso(h.fired[2]!.slotAtMs), '2026-03-27T19:00:00.000Z');
});

test('scheduler: stop_after.n_runs finishes a calendar job; the daemon rejects bad calendar input', (t) => {
  const h = harness(t);
  const job = submitCal(h, { cron: '*/15 * * * *', timezone: null, stop_after: { n_runs: 2 } });
  assert.equal(job.timezone, localTimezone(), "no zone given: the daemon's, stored (issue 12 item 10)");
  for (let i = 0; i < 6; i++) {
    h.clock.advance(15 * 60_000);
    h.completeAll();
  }
  assert.equal(h.fired.length, 2);
  assert.equal(h.service.get(job.job_id).status, 'finished');
  assert.throws(() => submitCal(h, { cron: 'every day' }), /invalid cron expression/);
  assert.throws(() => submitCal(h, { timezone: 'Atlantis/Capital' }), /unknown time zone/);
  assert.throws(() => submitCal(h, { interval_seconds: 60 }), /not both/);
  assert.throws(() => submitCal(h, { cron: null }), /give the schedule/);
  assert.throws(
    () => h.service.submit({ name: 'x', interval_seconds: 60, timezone: 'UTC', callback_url: 'http://127.0.0.1:1/run', callback_body: { body: {} } }),
    /only to a calendar job/,
  );
});

// --- end to end ----------------------------------------------------------------------------

test('end to end: job submit --cron through the real CLI fires on the calendar; job next lists it', async (t) => {
  const ap = await startFakeProvider();
  t.after(() => ap.close());
  ap.defaultRunReply = { kind: 'accept', httpStatus: 200, final: 'SUCCEEDED' };
  const { env } = tempHome(t);
  await startDaemonProcess(t, env);
  const submit = await runCliProcess(
    [
      'job',
      'submit',
      '--name',
      'every-second',
      '--cron',
      '* * * * * *',
      '--timezone',
      'UTC',
      '--action-url',
      ap.runUrl,
      '--action-body',
      '{"body": {}}',
      '--format',
      'json',
    ],
    env,
  );
  assert.equal(submit.code, 0, submit.stderr);
  const job = JSON.parse(submit.stdout) as JobDocument;
  assert.equal(job.cron, '* * * * * *');
  assert.equal(job.interval, null);
  const seen = await ap.waitForRuns(2, 15_000);
  const slots = seen.slice(0, 2).map((r) => r.receivedAtMs);
  assert.ok(slots[1]! - slots[0]! > 500, 'one run per occurrence, a second apart');

  const status = await runCliProcess(['job', 'status', job.job_id], env);
  assert.match(status.stdout, /^Schedule: +cron \* \* \* \* \* \* \(UTC\)$/m);
  const next = await runCliProcess(['job', 'next', job.job_id, '-n', '3', '--format', 'json'], env);
  assert.equal(next.code, 0, next.stderr);
  const { slots: upcoming, note } = JSON.parse(next.stdout) as { slots: string[]; note: string | null };
  assert.equal(upcoming.length, 3);
  assert.equal(note, null);
  assert.ok(upcoming.every((s) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/.test(s)));
  assert.equal(Date.parse(upcoming[1]!) - Date.parse(upcoming[0]!), 1000);

  const bad = await runCliProcess(['job', 'submit', '--name', 'x', '--cron', '0 2 * *', '--action-url', ap.runUrl, '--action-body', '{"body": {}}'], env);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
  assert.match(bad.stderr, /invalid cron expression/);
  const badZone = await runCliProcess(
    ['job', 'submit', '--name', 'x', '--cron', '0 2 * * *', '--timezone', 'Moon/Base', '--action-url', ap.runUrl, '--action-body', '{"body": {}}'],
    env,
  );
  assert.equal(badZone.code, 2);
  assert.match(badZone.stderr, /unknown time zone "Moon\/Base"/);
});
