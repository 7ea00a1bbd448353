/**
 * `job pause`, `job resume` and `job run` (issue 7 items 1 and 2; SPEC §2 rules 7 and 8):
 * end to end through the real CLI subprocess against a real daemon on a fake clock and a
 * loopback Action Provider, plus the pure stop_after.n_runs rule for manual runs.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { requestIdFor } from '../src/actions/request-id.ts';
import { getJob } from '../src/daemon/store/jobs.ts';
import { openDb } from '../src/daemon/store/open.ts';
import { runs, type RunRow } from '../src/daemon/store/schema.ts';
import { ERROR_CODES, RpcError } from '../src/core/errors.ts';
import { JobService } from '../src/daemon/jobs/job-service.ts';
import { RpcClient } from '../src/contract/client.ts';
import type { JobDocument, PauseResult, RunNowResult } from '../src/contract/protocol.ts';
import { decide, nextRunOf, retryWindowMs, type ScheduleState } from '../src/core/slots.ts';
import { FakeClock } from './support/clock.ts';
import { advanceUntil, clockedConfig, clockedDaemon, waitFor, type ClockedDaemon } from './support/clocked-daemon.ts';

const T0 = Date.parse('2026-03-02T08:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

async function status(h: ClockedDaemon, jobId: string): Promise<JobDocument> {
  const r = await h.cli(['job', 'status', jobId, '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as JobDocument;
}

function runRows(h: ClockedDaemon, jobId: string): RunRow[] {
  return h.daemon.db
    .select()
    .from(runs)
    .all()
    .filter((r) => r.jobId === jobId);
}

function requestIds(h: ClockedDaemon): string[] {
  return h.provider.runRequests().map((r) => (r.body as { request_id: string }).request_id);
}

/**
 * Before a "nothing was sent" check: wait until the runner drives no run. The scheduler
 * claims due runs and hands them to the runner within `clock.advance()`, and a run's driver
 * stays in flight until the provider has answered its request (which the provider records
 * before answering). So once the runner is idle, every request the advance led to has been
 * recorded, however slow the machine: the check cannot pass because one was still on its way.
 */
async function runnerIdle(h: ClockedDaemon): Promise<void> {
  await waitFor('the runner to drive no run', () => h.daemon.runner.inFlight === 0);
}

// ---------------------------------------------------------------------------------------
// Pause and resume

test('pause: no runs while paused; resume coalesces the missed slots into one catch-up run', async (t) => {
  const h = await clockedDaemon(t, { startMs: T0 });
  const jobId = await h.submit({ '--name': 'nightly', '--interval': '10', '--start': iso(T0 + 10_000) });
  h.clock.advance(10_000);
  await h.provider.waitForRuns(1);
  await waitFor('slot 0 to end', () => runRows(h, jobId)[0]?.completedAtMs != null);
  const before = getJob(h.daemon.db, jobId)!;

  const paused = await h.cli(['job', 'pause', jobId, '--note', 'storage maintenance']);
  assert.equal(paused.code, 0, paused.stderr);
  assert.match(paused.stdout, new RegExp(`^Job ${jobId} paused: it does not run until resumed \\(globus-timer job resume ${jobId}\\)\\.$`, 'm'));
  assert.match(paused.stdout, /^Status: +inactive$/m);
  assert.match(paused.stdout, new RegExp(`^Inactive Reason: +user: storage maintenance; resume with: globus-timer job resume ${jobId}$`, 'm'));
  assert.doesNotMatch(paused.stdout, /in progress/, 'no run was in flight');

  const doc = await status(h, jobId);
  assert.equal(doc.status, 'inactive');
  assert.deepEqual(doc.inactive_reason, { cause: 'user', detail: 'storage maintenance' });
  assert.equal(doc.next_run, null);
  assert.equal(doc.activity.code, 'paused');
  const row = getJob(h.daemon.db, jobId)!;
  assert.equal(row.nextSlotIndex, before.nextSlotIndex, 'the next slot is kept for resume');
  assert.equal(row.nextSlotAtMs, before.nextSlotAtMs);
  assert.equal(row.nextRunAtMs, null);

  // Pausing again: a clear no-op, exit 0, nothing changed.
  const again = await h.cli(['job', 'pause', jobId, '--note', 'other']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(
    again.stdout.trim(),
    `Job ${jobId} is already paused (note: storage maintenance): nothing to do. Resume it with: globus-timer job resume ${jobId}`,
  );
  const againJson = JSON.parse((await h.cli(['job', 'pause', jobId, '--format', 'json'])).stdout) as PauseResult;
  assert.equal(againJson.paused, false);
  assert.deepEqual(againJson.job.inactive_reason, { cause: 'user', detail: 'storage maintenance' }, 'the first note stays');

  // Slots 1, 2 and 3 (T0+20 s, +30 s, +40 s) pass while paused: nothing fires.
  h.clock.advance(35_000);
  await runnerIdle(h);
  assert.equal(runRows(h, jobId).length, 1, 'a paused job claims no slot');
  assert.equal(h.provider.runRequests().length, 1, 'a paused job never fires');

  const resumed = await h.cli(['job', 'resume', jobId]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /^Status: +loaded$/m);
  assert.equal(
    resumed.stdout.split('\n')[0],
    `Job ${jobId} resumed. Slots missed while it was inactive, if any, give one catch-up run now (--misfire coalesce).`,
  );
  // One catch-up run, for the latest missed slot (3); slots 1 and 2 are counted as missed.
  h.clock.advance(0);
  await h.provider.waitForRuns(2);
  assert.equal(requestIds(h)[1], requestIdFor(jobId, T0 + 40_000));
  await waitFor('the catch-up run to end', () => runRows(h, jobId).every((r) => r.completedAtMs !== null));
  const afterResume = await status(h, jobId);
  assert.equal(afterResume.status, 'loaded');
  assert.equal(afterResume.inactive_reason, null);
  assert.deepEqual(afterResume.skipped_slots, { missed: 2, overlap: 0 });
  assert.equal(afterResume.next_run, '2026-03-02T08:00:50+00:00', 'the grid is where it was');
  assert.equal(afterResume.n_runs, 2);
  h.clock.advance(4_999);
  await runnerIdle(h);
  assert.equal(h.provider.runRequests().length, 2, 'never a burst of catch-up runs');
  h.clock.advance(1);
  await h.provider.waitForRuns(3);
  assert.equal(requestIds(h)[2], requestIdFor(jobId, T0 + 50_000));

  // Resuming a loaded job: a clear no-op.
  const noop = await h.cli(['job', 'resume', jobId]);
  assert.equal(noop.code, 0, noop.stderr);
  assert.equal(noop.stdout.trim(), `Job ${jobId} is loaded, not inactive: nothing to resume.`);
});

test('resume with --misfire skip: no catch-up run, the job waits for its next slot', async (t) => {
  const h = await clockedDaemon(t, { startMs: T0 });
  const jobId = await h.submit({ '--interval': '10', '--start': iso(T0 + 10_000), '--misfire': 'skip' });
  h.clock.advance(10_000);
  await h.provider.waitForRuns(1);
  await waitFor('slot 0 to end', () => runRows(h, jobId)[0]?.completedAtMs != null);
  assert.equal((await h.cli(['job', 'pause', jobId])).code, 0);
  assert.deepEqual((await status(h, jobId)).inactive_reason, { cause: 'user' }, 'no note: no detail');
  h.clock.advance(35_000);
  const resumed = await h.cli(['job', 'resume', jobId]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.equal(
    resumed.stdout.split('\n')[0],
    `Job ${jobId} resumed. Slots missed while it was inactive, if any, are skipped (--misfire skip): it runs at its next slot.`,
  );
  h.clock.advance(0);
  await runnerIdle(h);
  assert.equal(runRows(h, jobId).length, 1, 'no catch-up run claimed with --misfire skip');
  assert.equal(h.provider.runRequests().length, 1, 'no catch-up run with --misfire skip');
  const doc = await status(h, jobId);
  assert.equal(doc.status, 'loaded');
  assert.equal(doc.skipped_slots.missed, 3);
  assert.equal(doc.next_run, '2026-03-02T08:00:50+00:00');
  h.clock.advance(5_000);
  await h.provider.waitForRuns(2);
  assert.equal(requestIds(h)[1], requestIdFor(jobId, T0 + 50_000));
});

test('pause with a run in flight: the run is not cancelled and ends as usual; a finished job is a no-op, a deleted one an error', async (t) => {
  const h = await clockedDaemon(t, { startMs: T0 });
  h.provider.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 2, final: 'SUCCEEDED' };
  const jobId = await h.submit({ '--interval': '3600', '--start': iso(T0 + 1_000) });
  h.clock.advance(1_000);
  await h.provider.waitForRuns(1);
  await waitFor('the run to be ACTIVE', () => runRows(h, jobId)[0]?.actionStatus === 'ACTIVE');

  const paused = await h.cli(['job', 'pause', jobId]);
  assert.equal(paused.code, 0, paused.stderr);
  assert.match(paused.stdout, /^A run already in progress is not cancelled: it runs to its end and is recorded\.$/m);
  const json = JSON.parse((await h.cli(['job', 'status', jobId, '--format', 'json'])).stdout) as JobDocument;
  assert.equal(json.activity.code, 'run_in_progress');

  const done = await advanceUntil(h.clock, 'the in-flight run to end', () => {
    const run = runRows(h, jobId)[0];
    return run?.completedAtMs != null ? run : undefined;
  });
  assert.equal(done.actionStatus, 'SUCCEEDED');
  assert.equal((await status(h, jobId)).status, 'inactive', 'the run ending does not resume the job');

  // A finished job: say so.
  const once = await h.submit({ '--interval': '10', '--start': iso(h.clock.now() + 1_000), '--stop-after-runs': '1' });
  h.provider.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 0, final: 'SUCCEEDED' };
  h.clock.advance(1_000);
  await waitFor('the job to finish', () => getJob(h.daemon.db, once)?.status === 'finished');
  const fin = await h.cli(['job', 'pause', once]);
  assert.equal(fin.code, 0, fin.stderr);
  assert.equal(fin.stdout.trim(), `Job ${once} is finished (its end condition was reached): nothing to pause.`);
  assert.equal((await h.cli(['job', 'resume', once])).stdout.trim(), `Job ${once} is finished, not inactive: nothing to resume.`);

  // A deleted job and an unknown one: errors (issue 12 item 6: exit 1, as for every command that cannot act on it).
  assert.equal((await h.cli(['job', 'delete', once])).code, 0);
  const del = await h.cli(['job', 'pause', once]);
  assert.equal(del.code, 1, del.stderr);
  assert.equal(del.stdout, '');
  assert.equal(del.stderr, `globus-timer: job ${once} is deleted: it never runs again (its history stays readable: globus-timer job history ${once})\n`);
  const unknown = await h.cli(['job', 'pause', '00000000-0000-4000-8000-000000000000']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^globus-timer: no job with id 00000000-0000-4000-8000-000000000000/);
  const usage = await h.cli(['job', 'pause']);
  assert.equal(usage.code, 2);
});

// ---------------------------------------------------------------------------------------
// Run now

test('job run: one extra run now, outside the grid; the grid and stop_after.n_runs are unchanged', async (t) => {
  const h = await clockedDaemon(t, { startMs: T0 });
  const jobId = await h.submit({ '--interval': '10', '--start': iso(T0 + 10_000), '--stop-after-runs': '2' });
  const before = getJob(h.daemon.db, jobId)!;

  h.clock.advance(3_000);
  const r = await h.cli(['job', 'run', jobId]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines[0], `Run sent: one extra run of job ${jobId} now, outside its schedule (the schedule is unchanged).`);
  const requestId = /^Request ID: +(\S+)$/m.exec(r.stdout)?.[1];
  assert.ok(requestId, r.stdout);
  assert.match(r.stdout, /^Sent At: +2026-03-02T08:00:03\+00:00$/m);
  assert.equal(lines.at(-1), `Follow it with: globus-timer job history ${jobId}`);

  // Sent at once (no clock movement needed), with the stored random request_id.
  const [sent] = await h.provider.waitForRuns(1);
  assert.deepEqual(sent!.body, { request_id: requestId, body: { n: 1 } });
  assert.deepEqual(sent!.schemaErrors, []);
  assert.notEqual(requestId, requestIdFor(jobId, T0 + 3_000), 'not derived from a slot');
  const [row] = runRows(h, jobId);
  assert.equal(row!.manual, true);
  assert.equal(row!.slotAtMs, T0 + 3_000);
  assert.equal(row!.requestId, requestId);
  assert.equal(row!.retryUntilMs, T0 + 3_000 + 5_000, 'retry window: min(45 min, interval / 2)');
  await waitFor('the manual run to end', () => runRows(h, jobId)[0]?.actionStatus === 'SUCCEEDED');

  const job = getJob(h.daemon.db, jobId)!;
  assert.equal(job.runCount, 1);
  assert.equal(job.manualRunCount, 1);
  assert.equal(job.lastRanAtMs, T0 + 3_000);
  assert.equal(job.nextSlotIndex, before.nextSlotIndex, 'the grid is unchanged');
  assert.equal(job.nextSlotAtMs, before.nextSlotAtMs);
  assert.equal(job.nextRunAtMs, T0 + 10_000);

  // Both grid slots still fire: stop_after.n_runs = 2 counts scheduled runs only.
  h.clock.advance(7_000);
  await h.provider.waitForRuns(2);
  assert.equal(getJob(h.daemon.db, jobId)!.status, 'loaded');
  // (overlap=skip: slot 1 would be skipped if slot 0's run were still open)
  await waitFor('slot 0 to end', () => runRows(h, jobId).every((x) => x.completedAtMs !== null));
  h.clock.advance(10_000);
  await h.provider.waitForRuns(3);
  await waitFor('the job to finish', () => getJob(h.daemon.db, jobId)?.status === 'finished');
  assert.deepEqual(requestIds(h).slice(1), [requestIdFor(jobId, T0 + 10_000), requestIdFor(jobId, T0 + 20_000)]);
  const doc = await status(h, jobId);
  assert.equal(doc.n_runs, 3, 'n_runs counts the manual run too');
  assert.equal(doc.next_run, null);

  // A finished job may still be run by hand: the user asked explicitly; it stays finished.
  await waitFor('the last run to end', () => runRows(h, jobId).every((x) => x.completedAtMs !== null));
  const fin = await h.cli(['job', 'run', jobId]);
  assert.equal(fin.code, 0, fin.stderr);
  assert.match(fin.stdout, /^The job stays finished: this run does not schedule it again\.$/m);
  await h.provider.waitForRuns(4);
  assert.equal(getJob(h.daemon.db, jobId)!.status, 'finished');
  assert.equal(getJob(h.daemon.db, jobId)!.nextRunAtMs, null);
});

test('job run and the overlap policy: RUN_IN_PROGRESS unless --force; overlap=allow fires; paused, deleted and unknown jobs', async (t) => {
  const h = await clockedDaemon(t, { startMs: T0 });
  h.provider.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 1_000, final: 'SUCCEEDED' };
  const jobId = await h.submit({ '--interval': '3600', '--start': iso(T0 + 3_600_000) });
  assert.equal((await h.cli(['job', 'run', jobId])).code, 0);
  await h.provider.waitForRuns(1);
  await waitFor('the action to be ACTIVE', () => runRows(h, jobId)[0]?.actionStatus === 'ACTIVE');

  const refused = await h.cli(['job', 'run', jobId]);
  assert.equal(refused.code, 1);
  assert.equal(refused.stdout, '');
  assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
  assert.match(
    refused.stderr,
    new RegExp(
      `^globus-timer: job ${jobId} has a run in progress and its overlap policy is skip; nothing fired\\. .*globus-timer job run ${jobId} --force$`,
      'm',
    ),
  );
  const client = await RpcClient.connect(h.paths.socketPath);
  try {
    await assert.rejects(client.call('job.run', { job_id: jobId }), (err: unknown) => err instanceof RpcError && err.code === ERROR_CODES.RUN_IN_PROGRESS);
  } finally {
    client.close();
  }
  assert.equal(h.provider.runRequests().length, 1, 'nothing fired');
  assert.equal(getJob(h.daemon.db, jobId)!.runCount, 1, 'nothing counted');

  const forced = await h.cli(['job', 'run', jobId, '--force', '--format', 'json']);
  assert.equal(forced.code, 0, forced.stderr);
  const result = JSON.parse(forced.stdout) as RunNowResult;
  assert.equal(result.run.run_state, 'pending');
  assert.equal(result.job.n_runs, 2);
  await h.provider.waitForRuns(2);
  assert.equal(requestIds(h)[1], result.run.request_id);
  assert.notEqual(requestIds(h)[0], requestIds(h)[1]);
  const forcedText = await h.cli(['job', 'run', jobId, '--force']);
  assert.match(forcedText.stdout, /^--force: the previous run is still in progress; both run\.$/m);

  // overlap=allow: no --force needed.
  const allow = await h.submit({ '--interval': '3600', '--start': iso(T0 + 3_600_000), '--overlap': 'allow' });
  assert.equal((await h.cli(['job', 'run', allow])).code, 0);
  await waitFor('the allow job to be ACTIVE', () => runRows(h, allow)[0]?.actionStatus === 'ACTIVE');
  assert.equal((await h.cli(['job', 'run', allow])).code, 0);
  assert.equal(runRows(h, allow).length, 2);

  // Paused: allowed, and the job stays paused.
  const p = await h.submit({ '--interval': '3600', '--start': iso(T0 + 3_600_000) });
  assert.equal((await h.cli(['job', 'pause', p])).code, 0);
  const pr = await h.cli(['job', 'run', p]);
  assert.equal(pr.code, 0, pr.stderr);
  assert.match(pr.stdout, new RegExp(`^The job stays paused: this run does not resume it \\(globus-timer job resume ${p}\\)\\.$`, 'm'));
  assert.equal(getJob(h.daemon.db, p)!.status, 'inactive');
  assert.equal(getJob(h.daemon.db, p)!.nextRunAtMs, null);

  // Deleted and unknown: clear errors, exit 1.
  assert.equal((await h.cli(['job', 'delete', p])).code, 0);
  const del = await h.cli(['job', 'run', p]);
  assert.equal(del.code, 1);
  assert.match(del.stderr, new RegExp(`^globus-timer: job ${p} is deleted: it never runs again`));
  const unknown = await h.cli(['job', 'run', '00000000-0000-4000-8000-00000000beef']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no job with id 00000000-0000-4000-8000-00000000beef/);
});

test('job run after a crash: the pending manual run is re-sent with its stored request_id', async (t) => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-'));
  t.after(() => fs.rmSync(home, { recursive: true, force: true }));
  // First a daemon to create the job, then stopped.
  const first = await clockedDaemon(t, { startMs: T0, home });
  const jobId = await first.submit({ '--interval': '3600', '--start': iso(T0 + 3_600_000) });
  await first.daemon.stop();
  // The run committed but never handed to a runner: what a crash right after the commit leaves.
  const db = openDb(first.paths.dbFile);
  const service = new JobService({ db, clock: new FakeClock(T0 + 1_000), config: clockedConfig(), onScheduleChange: () => {} });
  const { run } = service.runNow({ job_id: jobId });
  db.$client.close();
  assert.equal(run.run_state, 'pending');

  // The next start resumes it: sent to the job's provider (the first one's) with the same request_id.
  const second = await clockedDaemon(t, { startMs: T0 + 2_000, home });
  const [sent] = await first.provider.waitForRuns(1);
  assert.equal((sent!.body as { request_id: string }).request_id, run.request_id);
  await waitFor('the run to end', () =>
    second.daemon.db
      .select()
      .from(runs)
      .all()
      .find((r) => r.completedAtMs !== null),
  );
  const [row] = runRows(second, jobId);
  assert.equal(row!.requestId, run.request_id);
  assert.equal(row!.actionStatus, 'SUCCEEDED');
  assert.equal(row!.manual, true);
});

// ---------------------------------------------------------------------------------------
// Pure: stop_after.n_runs counts scheduled runs only

test('decide/nextRunOf: stop_after.n_runs counts run_count − manual_run_count', () => {
  const base: ScheduleState = {
    startAtMs: 0,
    intervalSeconds: 10,
    nextSlotIndex: 1,
    runCount: 3,
    manualRunCount: 2,
    stopAfterRuns: 2,
    stopAfterDateMs: null,
    overlap: 'skip',
    misfire: 'coalesce',
  };
  assert.deepEqual(nextRunOf(base), { nextRunAtMs: 10_000, finished: false }, 'one scheduled run so far');
  const d = decide(base, 10_000, { hasOpenRun: false, misfireGraceMs: 0 });
  assert.ok(d?.fire);
  assert.equal(d.finished, true, 'the second scheduled run is the last');
  assert.equal(d.nextRunAtMs, null);
  // Without manual runs the same counts would have finished it already.
  assert.equal(nextRunOf({ ...base, manualRunCount: 0 }).finished, true);
  // An absent manualRunCount (older callers) means none.
  const { manualRunCount: _, ...legacy } = base;
  assert.equal(nextRunOf(legacy).finished, true);
});

test('retry window of a manual run: as for the job (interval / 2, capped); a calendar job: half the time to its next slot', () => {
  const cfg = clockedConfig({ retryWindowMaxMs: 45 * 60_000 });
  const now = T0;
  assert.equal(retryWindowMs({ cron: null, intervalSeconds: 10 }, null, now, cfg.retryWindowMaxMs), 5_000);
  assert.equal(retryWindowMs({ cron: null, intervalSeconds: 86_400 }, null, now, cfg.retryWindowMaxMs), 45 * 60_000);
  assert.equal(retryWindowMs({ cron: '0 2 * * *', intervalSeconds: 0 }, now + 20 * 60_000, now, cfg.retryWindowMaxMs), 10 * 60_000);
  assert.equal(retryWindowMs({ cron: '0 2 * * *', intervalSeconds: 0 }, now + 5 * 3_600_000, now, cfg.retryWindowMaxMs), 45 * 60_000);
  assert.equal(retryWindowMs({ cron: '0 2 * * *', intervalSeconds: 0 }, null, now, cfg.retryWindowMaxMs), 45 * 60_000, 'no slot ahead');
  assert.equal(retryWindowMs({ cron: '0 2 * * *', intervalSeconds: 0 }, now - 1, now, cfg.retryWindowMaxMs), 45 * 60_000, "a paused job's slot passed");
});

test('job pause and job delete take back a run claimed ahead of its slot: it is never sent, and its slot counts as missed', async (t) => {
  const h = await clockedDaemon(t, { startMs: T0, config: clockedConfig({ fireLeadMs: 20 }) });
  const start = new Date(T0 + 10_000).toISOString();
  const paused = await h.submit({ '--name': 'paused', '--start': start });
  const deleted = await h.submit({ '--name': 'deleted', '--start': start });
  const control = await h.submit({ '--name': 'control', '--start': start });
  // 20 ms before slot 0: every job's run is claimed and waiting for its slot.
  h.clock.advance(10_000 - 20);
  const claimed = () => h.daemon.db.select().from(runs).all();
  await waitFor('the three runs claimed', () => claimed().length === 3);
  assert.equal((await h.cli(['job', 'pause', paused])).code, 0);
  assert.equal((await h.cli(['job', 'delete', deleted])).code, 0);
  h.clock.advance(20);
  await waitFor('the control job fired', () => h.provider.runRequests().length >= 1);
  h.clock.advance(1_000); // well past the slot: a run still waiting for it wakes now
  await runnerIdle(h); // the withdrawn runs' drivers have ended, sending nothing (or their requests were answered)
  const sent = h.provider.runRequests().map((r) => (r.body as { request_id: string }).request_id);
  assert.deepEqual(sent, [requestIdFor(control, T0 + 10_000)], 'only the job left alone fired');
  for (const id of [paused, deleted]) {
    const job = getJob(h.daemon.db, id)!;
    assert.equal(job.runCount, 0, `${job.name}: the withdrawn run is not counted`);
    assert.equal(job.missedSlots, 1, `${job.name}: its slot counts as missed`);
    assert.equal(job.nextSlotIndex, 1, `${job.name}: the slot stays decided`);
    assert.equal(claimed().filter((r) => r.jobId === id).length, 0, `${job.name}: no run row left`);
  }
  // Resumed, the paused job goes on from its next slot; slot 0 is not fired after all.
  assert.equal((await h.cli(['job', 'resume', paused])).code, 0);
  h.clock.advance(9_000);
  await waitFor('the resumed job fired slot 1', () =>
    h.provider.runRequests().some((r) => (r.body as { request_id: string }).request_id === requestIdFor(paused, T0 + 20_000)),
  );
  assert.ok(!h.provider.runRequests().some((r) => (r.body as { request_id: string }).request_id === requestIdFor(paused, T0 + 10_000)));
});
