/**
 * `job update` and `job next`: the service with the injected clock (re-anchoring, status
 * changes, nothing changed on bad input, a run in flight untouched), the flag parsing, and
 * the commands through runCli against an in-process daemon.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { runCli } from '../src/cli/main.ts';
import { parseCount, nextText } from '../src/cli/commands/job/next.ts';
import { updateParamsFromFlags } from '../src/cli/commands/job/update.ts';
import { resolvePaths } from '../src/config/paths.ts';
import { startDaemon } from '../src/daemon/daemon.ts';
import { getJob, markInactive } from '../src/daemon/store/jobs.ts';
import { openDb } from '../src/daemon/store/open.ts';
import { updateRun } from '../src/daemon/store/runs.ts';
import { runs, type JobRow, type RunRow } from '../src/daemon/store/schema.ts';
import { JobService } from '../src/daemon/jobs/job-service.ts';
import { formatIso, localTimezone } from '../src/core/time.ts';
import { silentLogger } from '../src/log/logger.ts';
import type { JobDocument, SubmitJobParams, UpdateJobParams } from '../src/contract/protocol.ts';
import { Scheduler } from '../src/daemon/loop.ts';
import { FakeClock } from './support/clock.ts';
import { tempHome, testConfig } from './support/env.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function harness(t: TestContext, { fireLeadMs = 0 } = {}) {
  const config = testConfig({ maxTimerDelayMs: 30_000, misfireGraceMs: 60_000, fireLeadMs });
  const clock = new FakeClock(T0);
  const { paths } = tempHome(t);
  const db = openDb(paths.dbFile);
  t.after(() => db.$client.close());
  const fired: { run: RunRow; job: JobRow }[] = [];
  const scheduler = new Scheduler({ db, clock, log: silentLogger(), config, onFire: (run, job) => fired.push({ run, job }) });
  const service = new JobService({ db, clock, config, onScheduleChange: () => scheduler.reschedule() });
  scheduler.start();
  t.after(() => scheduler.stop());
  const h = {
    db,
    clock,
    service,
    fired,
    slots: () => fired.map((f) => f.run.slotAtMs - T0),
    completeAll: () => {
      for (const { run } of fired)
        if (run.completedAtMs === null) updateRun(db, run.id, { state: 'succeeded', completedAtMs: (run.completedAtMs = clock.now()) });
    },
    /** Let `ms` pass, each run ending within the second it fired (so overlap never skips). */
    advance: (ms: number) => {
      for (let left = ms; left > 0; left -= 1000) {
        clock.advance(Math.min(1000, left));
        h.completeAll();
      }
    },
    /** An interval job every 10 s unless `over` says otherwise; a calendar job (`cron` given) gets no interval. */
    submit: (over: Partial<SubmitJobParams> = {}) =>
      service.submit({
        name: 'job',
        start: formatIso(T0 + 10_000),
        ...(over.cron ? {} : { interval_seconds: 10 }),
        callback_url: 'http://127.0.0.1:1/run',
        callback_body: { body: { v: 1 } },
        ...over,
      }),
    update: (jobId: string, p: Omit<UpdateJobParams, 'job_id'>) => service.update({ job_id: jobId, ...p }),
    row: (jobId: string) => getJob(db, jobId)!,
  };
  return h;
}

/** An interval job's next_slot_at_ms is always on its grid. */
function assertOnGrid(row: JobRow): void {
  if (row.cron === null) assert.equal(row.nextSlotAtMs, row.startAtMs + row.nextSlotIndex * row.intervalSeconds * 1000, 'next_slot_at_ms on the grid');
}

test('--interval re-anchors from the start: next slot strictly after now, no catch-up of the old grid', (t) => {
  const h = harness(t);
  const job = h.submit();
  h.advance(20_000);
  h.completeAll();
  assert.deepEqual(h.slots(), [10_000, 20_000]);
  h.advance(5_000); // now T0+25 s
  const r = h.update(job.job_id, { interval_seconds: 60 });
  assert.equal(r.reanchored, true);
  assert.equal(r.job.interval, 60);
  assert.equal(r.job.start, formatIso(T0 + 10_000), 'the anchor stays the start');
  assert.equal(r.job.next_run, formatIso(T0 + 70_000));
  assertOnGrid(h.row(job.job_id));
  h.advance(44_999);
  assert.equal(h.fired.length, 2, 'nothing from the old 10 s grid');
  h.advance(1);
  h.completeAll();
  h.advance(60_000);
  assert.deepEqual(h.slots(), [10_000, 20_000, 70_000, 130_000]);
  assert.ok(
    h.fired.every((f) => f.run.firedAtMs === f.run.slotAtMs),
    'the scheduler was told: fired at the new slots, not late',
  );
  assert.equal(h.row(job.job_id).missedSlots, 0, 'old-grid slots are not misses');
});

test('--start re-anchors to the new start; a shorter interval is armed at once (onScheduleChange)', (t) => {
  const h = harness(t);
  const job = h.submit({ interval_seconds: 3600 });
  h.advance(10_000);
  h.completeAll();
  const r = h.update(job.job_id, { start: formatIso(T0 + 15_500), interval_seconds: 2 });
  assert.equal(r.job.next_run, formatIso(T0 + 15_500));
  h.advance(7_500);
  assert.deepEqual(h.slots(), [10_000, 15_500, 17_500]);
  assert.ok(h.fired.every((f) => f.run.firedAtMs === f.run.slotAtMs));
  assertOnGrid(h.row(job.job_id));
});

test('switching interval → cron → interval; the calendar keeps its zone when only the expression changes', (t) => {
  const h = harness(t);
  const job = h.submit({ interval_seconds: 3600 });
  h.advance(10_000);
  const toCron = h.update(job.job_id, { cron: '0 */6 * * *', timezone: 'Asia/Tokyo' });
  assert.equal(toCron.reanchored, true);
  assert.equal(toCron.job.interval, null);
  assert.equal(toCron.job.cron, '0 */6 * * *');
  assert.equal(toCron.job.timezone, 'Asia/Tokyo');
  assert.equal(toCron.job.next_run, '2026-01-01T03:00:00+00:00', '06:00 JST');
  const row = h.row(job.job_id);
  assert.equal(row.intervalSeconds, 0);
  assert.equal(row.nextSlotAtMs, Date.parse('2026-01-01T03:00:00Z'));
  const exprOnly = h.update(job.job_id, { cron: '30 7 * * *' });
  assert.equal(exprOnly.job.timezone, 'Asia/Tokyo');
  assert.equal(exprOnly.job.next_run, '2026-01-01T22:30:00+00:00');
  h.advance(Date.parse('2026-01-01T22:30:00Z') - h.clock.now());
  assert.equal(iso(h.fired.at(-1)!.run.slotAtMs), '2026-01-01T22:30:00.000Z');
  h.completeAll();
  const back = h.update(job.job_id, { interval_seconds: 3600 });
  assert.equal(back.job.cron, null);
  assert.equal(back.job.timezone, null);
  assert.equal(back.job.interval, 3600);
  assert.equal(back.job.next_run, '2026-01-01T23:00:10+00:00', 'the grid of the original start, after the last fired slot');
  assertOnGrid(h.row(job.job_id));
});

test('a finished job whose end condition is lifted is loaded again, from a slot after now', (t) => {
  const h = harness(t);
  const job = h.submit({ stop_after: { n_runs: 2 } });
  h.advance(20_000);
  h.completeAll();
  assert.equal(h.row(job.job_id).status, 'finished');
  h.advance(95_000); // T0+115 s: the old grid would have 9 slots due meanwhile
  const raised = h.update(job.job_id, { stop_after: { n_runs: 4 } });
  assert.equal(raised.reanchored, true);
  assert.equal(raised.job.status, 'loaded');
  assert.equal(raised.job.next_run, formatIso(T0 + 120_000));
  h.advance(5_000);
  h.completeAll();
  h.advance(10_000);
  h.completeAll();
  h.advance(50_000);
  assert.deepEqual(h.slots(), [10_000, 20_000, 120_000, 130_000], 'no catch-up; finished again after 4 runs');
  assert.equal(h.row(job.job_id).status, 'finished');
  // A date that leaves no slot is refused (issue 12 item 3), and changes nothing.
  const finished = h.row(job.job_id);
  assert.throws(
    () => h.update(job.job_id, { stop_after: { n_runs: null, date: formatIso(h.clock.now() - 1) } }),
    /^InvalidInputError: invalid stop-after date 2026-01-01T00:02:59\.999\+00:00: it is not after now \(2026-01-01T00:03:00\+00:00\), so the job would never run$/,
  );
  assert.deepEqual(h.row(job.job_id), finished);
  const open = h.update(job.job_id, { stop_after: null });
  assert.equal(open.job.status, 'loaded');
  assert.equal(open.job.stop_after, null);
  assertOnGrid(h.row(job.job_id));
});

test('an end condition that is already reached finishes a loaded job at once', (t) => {
  const h = harness(t);
  const job = h.submit();
  h.advance(30_000);
  const r = h.update(job.job_id, { stop_after: { n_runs: 3 } });
  assert.equal(r.job.status, 'finished');
  assert.equal(r.job.next_run, null);
  assert.equal(r.reanchored, false);
  h.advance(60_000);
  assert.equal(h.fired.length, 3);
});

test('a paused job stays paused; its next slot is recomputed, and resume starts there', (t) => {
  const h = harness(t);
  const job = h.submit();
  h.advance(10_000);
  h.completeAll();
  markInactive(h.db, job.job_id, { cause: 'user' }, h.clock.now());
  h.advance(5_000);
  const r = h.update(job.job_id, { interval_seconds: 30 });
  assert.equal(r.reanchored, true);
  assert.equal(r.job.status, 'inactive');
  assert.equal(r.job.next_run, null);
  const row = h.row(job.job_id);
  assert.equal(row.nextSlotAtMs, T0 + 40_000);
  assertOnGrid(row);
  assert.deepEqual(h.service.next({ job_id: job.job_id }).slots, []);
  assert.match(h.service.next({ job_id: job.job_id }).note!, /paused.*job resume/);
  h.advance(10_000);
  h.service.resume(job.job_id);
  h.advance(45_000);
  assert.deepEqual(h.slots(), [10_000, 40_000, 70_000]);
});

test('a deleted job cannot be updated; bad values change nothing', (t) => {
  const h = harness(t);
  const job = h.submit({ stop_after: { n_runs: 10 } });
  h.advance(10_000);
  const before = h.row(job.job_id);
  const bad: [Omit<UpdateJobParams, 'job_id'>, RegExp][] = [
    [{}, /nothing to update/],
    [{ interval_seconds: 0 }, /invalid interval/],
    [{ interval_seconds: 60, cron: '0 2 * * *' }, /not both/],
    [{ cron: '0 2 * *' }, /invalid cron expression/],
    [{ cron: '0 0 31 2 *' }, /never occurs/],
    [{ timezone: 'Europe/Berlin' }, /only to a calendar job/],
    [{ cron: '0 2 * * *', timezone: 'No/Where' }, /unknown time zone/],
    [{ start: 'tomorrow' }, /invalid start/],
    [{ stop_after: { n_runs: 0 } }, /stop-after-runs/],
    [{ stop_after: { date: '2026-13-01' } }, /stop-after date/],
    [{ callback_body: { nobody: 1 } }, /action body/],
    [{ name: ' ', interval_seconds: 60 }, /job name/],
  ];
  for (const [params, re] of bad) {
    assert.throws(
      () => h.update(job.job_id, params),
      (err: Error & { code?: string }) => err.code === 'INVALID_INPUT' && re.test(err.message),
      JSON.stringify(params),
    );
    assert.deepEqual(h.row(job.job_id), before, `${JSON.stringify(params)}: nothing changed`);
  }
  assert.throws(
    () => h.update('no-such-job', { name: 'x' }),
    (err: Error & { code?: string }) => err.code === 'JOB_NOT_FOUND',
  );
  h.service.delete(job.job_id);
  const deleted = h.row(job.job_id);
  assert.throws(
    () => h.update(job.job_id, { name: 'x' }),
    (err: Error & { code?: string }) => err.code === 'JOB_DELETED',
  );
  assert.deepEqual(h.row(job.job_id), deleted);
  assert.match(h.service.next({ job_id: job.job_id }).note!, /deleted/);
});

test('a run in flight is untouched; a run claimed just ahead of its slot is never given a second run', (t) => {
  const h = harness(t, { fireLeadMs: 20 });
  const job = h.submit();
  h.clock.advance(10_000 - 20); // slot 0 claimed 20 ms ahead, its run still open
  assert.equal(h.fired.length, 1);
  const inFlight = h.fired[0]!;
  assert.deepEqual(inFlight.job.callbackBody, { body: { v: 1 } });
  const runBefore = h.db.select().from(runs).all();
  // Same grid, new body, re-anchored: the next slot must be after the claimed one (T0+10 s).
  const r = h.update(job.job_id, { start: formatIso(T0 + 10_000), callback_body: { body: { v: 2 } }, policy: { overlap: 'allow' } });
  assert.equal(r.job.next_run, formatIso(T0 + 20_000));
  assert.deepEqual(h.db.select().from(runs).all(), runBefore, 'the run in flight is unchanged');
  assert.deepEqual(inFlight.job.callbackBody, { body: { v: 1 } }, 'the runner keeps the job as it fired');
  h.clock.advance(20 + 10_000);
  assert.deepEqual(h.slots(), [10_000, 20_000]);
  assert.deepEqual(h.fired[1]!.job.callbackBody, { body: { v: 2 } }, 'the next slot uses the new body');
});

test('job next via the service: loaded slots, end conditions and status notes', (t) => {
  const h = harness(t);
  const job = h.submit({ stop_after: { n_runs: 3 } });
  const n = h.service.next({ job_id: job.job_id, count: 5 });
  assert.deepEqual(n.slots, [formatIso(T0 + 10_000), formatIso(T0 + 20_000), formatIso(T0 + 30_000)]);
  assert.match(n.note!, /no runs after these: stop_after.n_runs is 3/);
  assert.deepEqual(h.service.next({ job_id: job.job_id }).slots.length, 3);
  const cal = h.submit({ cron: '0 9 * * 1-5', timezone: 'Europe/Berlin', start: null });
  const c = h.service.next({ job_id: cal.job_id, count: 3 });
  assert.deepEqual(c.slots, ['2026-01-01T09:00:00+01:00', '2026-01-02T09:00:00+01:00', '2026-01-05T09:00:00+01:00']);
  assert.equal(c.note, null);
  h.advance(40_000);
  assert.match(h.service.next({ job_id: job.job_id }).note!, /finished/);
});

// --- the CLI ---------------------------------------------------------------------------

test('updateParamsFromFlags: none clears, values are canonical, usage errors are one line', () => {
  assert.deepEqual(updateParamsFromFlags({ job_id: 'j', 'stop-after-date': 'none', 'stop-after-runs': 'NONE' }), {
    job_id: 'j',
    stop_after: { date: null, n_runs: null },
  });
  assert.deepEqual(updateParamsFromFlags({ job_id: 'j', interval: '1h 30m', 'stop-after-runs': '7' }), {
    job_id: 'j',
    interval_seconds: 5400,
    stop_after: { n_runs: 7 },
  });
  assert.deepEqual(updateParamsFromFlags({ job_id: 'j', cron: '0  2 * * *', timezone: 'europe/berlin' }), {
    job_id: 'j',
    cron: '0 2 * * *',
    timezone: 'Europe/Berlin',
  });
  // none (and local): the user's own zone, resolved and sent (issue 12 item 10).
  assert.deepEqual(updateParamsFromFlags({ job_id: 'j', timezone: 'none' }), { job_id: 'j', timezone: localTimezone() });
  assert.deepEqual(
    updateParamsFromFlags({ job_id: 'j', 'action-file': 'f.json' }, () => '{"body": {"x": 1}}'),
    { job_id: 'j', callback_body: { body: { x: 1 } } },
  );
  assert.deepEqual(updateParamsFromFlags({ job_id: 'j', misfire: 'skip' }), { job_id: 'j', policy: { misfire: 'skip' } });
  for (const [flags, re] of [
    [{}, /nothing to update/],
    [{ interval: '1h', cron: '0 2 * * *' }, /not both/],
    [{ 'stop-after-runs': '0' }, /stop-after-runs/],
    [{ 'stop-after-runs': 'many' }, /stop-after-runs "many"/],
    [{ 'stop-after-date': 'soon' }, /--stop-after-date/],
    [{ cron: 'daily' }, /invalid cron expression/],
    [{ timezone: 'Nope/Nope' }, /unknown time zone/],
    [{ 'action-body': '{}', 'action-file': 'x' }, /not both/],
  ] as const) {
    assert.throws(() => updateParamsFromFlags({ job_id: 'j', ...flags }), re);
  }
  assert.equal(parseCount(undefined), undefined);
  assert.equal(parseCount('100'), 100);
  assert.throws(() => parseCount('0'), /from 1 to 100/);
  assert.throws(() => parseCount('101'), /from 1 to 100/);
  assert.throws(() => parseCount('2.5'), /from 1 to 100/);
  assert.equal(nextText({ slots: [], note: 'the job is finished' }), 'No upcoming runs: the job is finished.');
  assert.equal(nextText({ slots: ['a', 'b'], note: 'x' }), 'a\nb\n(x)');
});

test('job update and job next through runCli against a daemon', async (t) => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-'));
  const env: NodeJS.ProcessEnv = { ...process.env, GLOBUS_TIMER_HOME: home, GLOBUS_TIMER_NO_AUTOSTART: '1' };
  delete env.GLOBUS_TIMER_LOG_LEVEL;
  const daemon = await startDaemon({ paths: resolvePaths(env), config: testConfig(), log: silentLogger() });
  t.after(async () => {
    await daemon.stop();
    fs.rmSync(home, { recursive: true, force: true });
  });
  const cli = async (args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(args, { out: (s) => out.push(s), err: (s) => err.push(s), env });
    return { code, out, err, stdout: out.join('\n') };
  };
  const job = daemon.service.submit({
    name: 'n',
    start: '2099-01-01T00:00:00Z',
    interval_seconds: 86_400,
    callback_url: 'https://actions.example.org/run',
    callback_body: { body: {} },
    scope: null,
  });

  const text = await cli(['job', 'update', job.job_id, '--cron', '0 2 * * *', '--timezone', 'Europe/Berlin', '--name', 'renamed']);
  assert.equal(text.code, 0, text.err.join('\n'));
  assert.match(text.stdout, /^Schedule re-anchored: next run at 2099-01-01T01:00:00\+00:00\.$/m);
  assert.match(text.stdout, /^Schedule: +cron 0 2 \* \* \* \(Europe\/Berlin\)$/m);
  assert.match(text.stdout, /^Name: +renamed$/m);

  const json = await cli(['job', 'update', job.job_id, '--overlap', 'allow', '--format', 'json']);
  assert.equal(json.code, 0);
  const result = JSON.parse(json.stdout) as { job: JobDocument; reanchored: boolean };
  assert.equal(result.reanchored, false);
  assert.equal(result.job.policy.overlap, 'allow');
  assert.doesNotMatch((await cli(['job', 'update', job.job_id, '--misfire', 'skip'])).stdout, /re-anchored/);

  const next = await cli(['job', 'next', job.job_id, '-n', '2']);
  assert.equal(next.code, 0);
  assert.deepEqual(next.out.join('\n').split('\n'), ['2099-01-01T02:00:00+01:00', '2099-01-02T02:00:00+01:00']);
  const nextJson = await cli(['job', 'next', job.job_id, '--format', 'json']);
  assert.equal((JSON.parse(nextJson.stdout) as { slots: string[] }).slots.length, 5);

  const before = daemon.service.get(job.job_id);
  for (const args of [
    ['job', 'update', job.job_id],
    ['job', 'update', job.job_id, '--stop-after-runs', '0'],
    ['job', 'update', job.job_id, '--cron', '0 2 * *'],
    ['job', 'update', job.job_id, '--interval', '1h', '--cron', '0 2 * * *'],
    ['job', 'next', job.job_id, '-n', '0'],
  ]) {
    const r = await cli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err.join('|')}`);
    assert.deepEqual(r.out, []);
    assert.equal(r.err.length, 1);
    assert.ok(!r.err[0]!.includes('\n'));
  }
  assert.deepEqual(daemon.service.get(job.job_id), before, 'nothing changed');

  daemon.service.delete(job.job_id);
  const del = await cli(['job', 'update', job.job_id, '--name', 'x']);
  assert.equal(del.code, 1, 'a deleted job is a runtime error, not a usage error (issue 12 item 6)');
  assert.match(del.err[0]!, /is deleted: it never runs again/);
  const delNext = await cli(['job', 'next', job.job_id]);
  assert.equal(delNext.code, 0);
  assert.equal(delNext.stdout, 'No upcoming runs: the job is deleted: it never runs again.');
});
