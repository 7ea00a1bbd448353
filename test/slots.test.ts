import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decide, initialSlotIndex, latestSlotIndexAt, nextRunOf, slotAtMs, type ScheduleState } from '../src/core/slots.ts';

const S = Date.parse('2022-04-01T19:30:00Z');
const GRACE = 60_000;

function job(overrides: Partial<ScheduleState> = {}): ScheduleState {
  return {
    startAtMs: S,
    intervalSeconds: 10,
    nextSlotIndex: 0,
    runCount: 0,
    stopAfterRuns: null,
    stopAfterDateMs: null,
    overlap: 'skip',
    misfire: 'coalesce',
    ...overrides,
  };
}

const noOpen = { hasOpenRun: false, misfireGraceMs: GRACE };

test('the reference job: fired 7 s late, next_run stays on the grid (2022-04-11T19:30:00Z)', () => {
  const j = job({ intervalSeconds: 864_000 });
  const d = decide(j, S + 7_000, noOpen);
  assert.ok(d);
  assert.deepEqual(d.fire, { slotIndex: 0, slotAtMs: S });
  assert.equal(new Date(d.nextRunAtMs!).toISOString(), '2022-04-11T19:30:00.000Z');
});

test('lateness never moves the grid: a run 1 s late at 11 is followed by 21, 31', () => {
  let j = job({ startAtMs: 1_000, nextSlotIndex: 1 });
  const fires: number[] = [];
  for (const nowMs of [12_000, 21_000, 31_000]) {
    const d = decide(j, nowMs, noOpen);
    assert.ok(d?.fire);
    fires.push(d.fire.slotAtMs);
    j = { ...j, nextSlotIndex: d.nextSlotIndex, runCount: j.runCount + 1 };
  }
  assert.deepEqual(fires, [11_000, 21_000, 31_000]);
});

test('nothing is due before the slot: never early', () => {
  const j = job({ nextSlotIndex: 3 });
  assert.equal(decide(j, slotAtMs(j, 3) - 1, noOpen), null);
  assert.ok(decide(j, slotAtMs(j, 3), noOpen)?.fire);
});

test('a wall clock that jumped backwards fires nothing (no repeat)', () => {
  const j = job({ nextSlotIndex: 5 }); // slots 0..4 already handled
  assert.equal(decide(j, S + 12_000, noOpen), null);
  assert.equal(decide(j, S - 3_600_000, noOpen), null);
});

test('a long outage is coalesced into one run for the latest due slot; the rest are counted', () => {
  const j = job({ nextSlotIndex: 2 });
  const d = decide(j, S + 1_000_005, noOpen); // latest due slot: 100 000 s / 10 = 100
  assert.ok(d);
  assert.deepEqual(d.fire, { slotIndex: 100, slotAtMs: S + 1_000_000 });
  assert.equal(d.missedSlots, 98);
  assert.equal(d.nextSlotIndex, 101);
});

test('misfire=skip: a stale slot is not fired, the job waits for the next slot on the grid', () => {
  const j = job({ nextSlotIndex: 2, misfire: 'skip', intervalSeconds: 3600 });
  const d = decide(j, slotAtMs(j, 5) + GRACE + 1, noOpen);
  assert.ok(d);
  assert.equal(d.fire, null);
  assert.equal(d.missedSlots, 4); // slots 2, 3, 4 and the stale 5
  assert.equal(d.nextRunAtMs, slotAtMs(j, 6));
  // ...but a slot within the grace period still fires (ordinary lateness is not a misfire).
  const onTime = decide(j, slotAtMs(j, 2) + 5, noOpen);
  assert.equal(onTime?.fire?.slotIndex, 2);
});

test('overlap=skip skips the slot while a run is open and does not count it as a run', () => {
  const j = job({ nextSlotIndex: 4, runCount: 4, stopAfterRuns: 5 });
  const d = decide(j, slotAtMs(j, 4), { hasOpenRun: true, misfireGraceMs: GRACE });
  assert.ok(d);
  assert.equal(d.fire, null);
  assert.equal(d.overlapSkippedSlots, 1);
  assert.equal(d.finished, false);
  assert.equal(d.nextRunAtMs, slotAtMs(j, 5));
  const allow = decide({ ...j, overlap: 'allow' }, slotAtMs(j, 4), { hasOpenRun: true, misfireGraceMs: GRACE });
  assert.equal(allow?.fire?.slotIndex, 4);
});

test('stop_after.n_runs: finished after the last run, with no next run', () => {
  const j = job({ nextSlotIndex: 2, runCount: 2, stopAfterRuns: 3 });
  const d = decide(j, slotAtMs(j, 2), noOpen);
  assert.ok(d?.fire);
  assert.equal(d.finished, true);
  assert.equal(d.nextRunAtMs, null);
});

test('stop_after.date: finished once the next slot would fall after it', () => {
  const j = job({ stopAfterDateMs: S + 25_000 });
  const d1 = decide(j, S + 10_000, { ...noOpen });
  assert.equal(d1?.finished, false);
  const d2 = decide({ ...j, nextSlotIndex: 2 }, S + 20_000, noOpen);
  assert.ok(d2?.fire);
  assert.equal(d2.finished, true); // slot 3 (S+30 s) is after the date
  // Down across the stop date: the last slot before the date fires, none after it.
  const late = decide({ ...j, nextSlotIndex: 1 }, S + 500_000, noOpen);
  assert.equal(late?.fire?.slotAtMs, S + 20_000);
  assert.equal(late?.missedSlots, 1);
  assert.equal(late?.finished, true);
});

test('initial slot: a future start waits for it; a past start waits for the next grid slot unless within grace', () => {
  const grid = { startAtMs: S, intervalSeconds: 3600 };
  assert.equal(initialSlotIndex(grid, S - 5_000, GRACE), 0);
  assert.equal(initialSlotIndex(grid, S + 30_000, GRACE), 0); // a start of "now" typed a moment ago
  assert.equal(initialSlotIndex(grid, S + 2 * 3_600_000 + 120_000, GRACE), 3);
  assert.equal(latestSlotIndexAt(grid, S - 1), -1);
});

test('nextRunOf: an end condition already reached means finished', () => {
  assert.deepEqual(nextRunOf(job({ stopAfterRuns: 1, runCount: 1 })), { nextRunAtMs: null, finished: true });
  assert.deepEqual(nextRunOf(job({ stopAfterDateMs: S - 1 })), { nextRunAtMs: null, finished: true });
  assert.deepEqual(nextRunOf(job({ nextSlotIndex: 2 })), { nextRunAtMs: S + 20_000, finished: false });
});
