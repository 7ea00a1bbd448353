/**
 * End to end with real processes: the daemon (`globus-timer daemon run`), the CLI
 * (bin/globus-timer.js), a real SQLite file, and a loopback Action Provider.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test, type TestContext } from 'node:test';
import type { JobDocument } from '../src/contract/protocol.ts';
import { FAST_POLLING, runCliProcess, startDaemonProcess, tempHome, type CliResult } from './support/env.ts';
import { startControlJob } from './support/control-job.ts';
import { startFakeProvider, type FakeProvider } from './support/provider.ts';

async function provider(t: TestContext): Promise<FakeProvider> {
  const p = await startFakeProvider();
  t.after(() => p.close());
  return p;
}

function lateness(runs: { receivedAtMs: number }[], startMs: number, intervalMs: number) {
  return runs.map((r) => {
    const slot = startMs + Math.floor((r.receivedAtMs - startMs) / intervalMs) * intervalMs;
    return { slot, lateMs: r.receivedAtMs - slot };
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Runs the CLI until its stdout matches (or 10 tries have passed), returning the last result. */
async function cliUntil(args: string[], env: NodeJS.ProcessEnv, pattern: RegExp): Promise<CliResult> {
  let result = await runCliProcess(args, env);
  for (let tries = 1; tries < 10 && !pattern.test(result.stdout); tries++) result = await runCliProcess(args, env);
  return result;
}

async function poll<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a 1-second job fires on its grid; status, list and delete behave', async (t) => {
  const ap = await provider(t);
  ap.defaultRunReply = { kind: 'accept', httpStatus: 200, final: 'SUCCEEDED' };
  const { env: base, paths } = tempHome(t);
  const env = { ...base, ...FAST_POLLING };
  const daemon = await startDaemonProcess(t, env);

  const submit = await runCliProcess(
    ['job', 'submit', '--name', 't', '--interval', '1', '--action-url', ap.runUrl, '--action-body', '{"body": {"n": 1}}', '--format', 'json'],
    env,
  );
  assert.equal(submit.code, 0, submit.stderr);
  const job = JSON.parse(submit.stdout) as JobDocument;
  assert.equal(job.status, 'loaded');

  const seen = await ap.waitForRuns(5, 15_000);
  const startMs = Date.parse(job.start);
  const late = lateness(seen.slice(0, 5), startMs, 1000);
  assert.equal(new Set(late.map((l) => l.slot)).size, late.length, 'one run per slot');
  assert.ok(
    late.every((l) => l.lateMs >= 0),
    'never early',
  );
  const lateMs = late.map((l) => l.lateMs);
  t.diagnostic(`lateness ms (provider receive − slot): ${lateMs.join(', ')}; median ${median(lateMs)}, max ${Math.max(...lateMs)}`);
  assert.ok(Math.max(...lateMs) < 500, `fires stay near their slots: ${lateMs.join(', ')}`);
  assert.ok(seen.every((r) => r.schemaErrors.length === 0 && (r.body as { body: unknown }).body !== undefined));
  assert.equal(new Set(seen.map((r) => (r.body as { request_id: string }).request_id)).size, seen.length, 'request_id per slot');

  // A 1-second job claims its next run 20 ms before each slot, so for a moment every second
  // the last result is SUBMITTING: ask until a reading lands between runs.
  const status = await cliUntil(['job', 'status', job.job_id], env, /^Last Run Result: +SUCCEEDED$/m);
  assert.equal(status.code, 0);
  assert.match(status.stdout, /^Name: +t$/m);
  assert.match(status.stdout, new RegExp(`^Job ID: +${job.job_id}$`, 'm'));
  assert.match(status.stdout, /^Interval: +0:00:01$/m);
  assert.match(status.stdout, /^Last Run Result: +SUCCEEDED$/m);

  // Next Run of a 1-second job: within the second, or just being claimed.
  const listRow = new RegExp(`^t +\\| ${job.job_id} \\| loaded \\| SUCCEEDED +\\| (in 1s|now|overdue 1s)$`, 'm');
  const list = await cliUntil(['job', 'list'], env, listRow);
  assert.equal(list.code, 0);
  assert.match(list.stdout, /^Name \| Job ID +\| Status \| Last Result \| Next Run$/m);
  assert.match(list.stdout, listRow);

  const control = await startControlJob(t, (args) => runCliProcess(args, env));
  const del = await runCliProcess(['job', 'delete', job.job_id], env);
  assert.equal(del.code, 0);
  assert.match(del.stdout, /^Status: +deleted$/m);
  const deletedAtMs = Date.now();
  const afterDelete = ap.runRequests().length;
  const runsAtDelete = (JSON.parse((await runCliProcess(['job', 'status', job.job_id, '--format', 'json'], env)).stdout) as JobDocument).n_runs;
  // Its next slot was due within 1 s of the delete: by the control's run 2 s after it the daemon has decided that slot, and a
  // request for it would have been sent a second or more before the control's (test/support/control-job.ts).
  await control.firedAtOrAfter(deletedAtMs + 2_000);
  assert.equal(ap.runRequests().length, afterDelete, 'a deleted job never fires again');
  const afterwards = JSON.parse((await runCliProcess(['job', 'status', job.job_id, '--format', 'json'], env)).stdout) as JobDocument;
  assert.equal(afterwards.n_runs, runsAtDelete, 'nor claims a slot');
  assert.equal((await runCliProcess(['job', 'list'], env)).stdout.includes(job.job_id), false);
  assert.ok((await runCliProcess(['job', 'list', '--show-deleted'], env)).stdout.includes(job.job_id));

  assert.equal(await daemon.stop('SIGTERM'), 0, 'graceful stop exits 0');
  assert.equal(fs.existsSync(paths.socketPath), false, 'socket removed');
  assert.equal((fs.statSync(paths.dbFile).mode & 0o777).toString(8), '600');
  const unavailable = await runCliProcess(['job', 'list'], { ...env, GLOBUS_TIMER_NO_AUTOSTART: '1' });
  assert.equal(unavailable.code, 1);
  assert.match(unavailable.stderr, /daemon not running.*globus-timer daemon run/);
});

test('SIGKILL mid-flight, then restart: runs resume and no slot is fired twice', async (t) => {
  const ap = await provider(t);
  // Every action stays ACTIVE for a while, so runs are in flight when the daemon dies.
  ap.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 3, final: 'SUCCEEDED' };
  // ...and one submission hangs, so its outcome is unknown at the kill.
  const { env: base } = tempHome(t);
  const env = { ...base, ...FAST_POLLING };
  let daemon = await startDaemonProcess(t, env);
  const submit = await runCliProcess(
    ['job', 'submit', '--name', 'k', '--interval', '1', '--overlap', 'allow', '--action-url', ap.runUrl, '--action-body', '{"body": {}}', '--format', 'json'],
    env,
  );
  assert.equal(submit.code, 0, submit.stderr);
  const job = JSON.parse(submit.stdout) as JobDocument;
  await ap.waitForRuns(2, 10_000);
  ap.runReplies.push({ kind: 'hang' });
  await ap.waitForRuns(3, 10_000);
  assert.equal(await daemon.stop('SIGKILL'), 'SIGKILL');

  daemon = await startDaemonProcess(t, env);
  await ap.waitForRuns(6, 15_000);
  // Wait until the runs fired before the kill (and the ones after) have all finished.
  const doc = await poll('the earlier runs to finish', async () => {
    const r = await runCliProcess(['job', 'status', job.job_id, '--format', 'json'], env);
    const d = JSON.parse(r.stdout) as JobDocument;
    return d.results.data.length >= 4 && d.results.data.slice(2).every((run) => run.completed_at !== null) ? d : undefined;
  });
  await daemon.stop('SIGTERM');

  const requests = ap.runRequests().map((r) => r.body as { request_id: string });
  // One action per request_id: re-sends were deduplicated, never a second action.
  const actionRequestIds = [...ap.actions.values()].map((a) => a.requestId);
  assert.equal(new Set(actionRequestIds).size, actionRequestIds.length);
  // The hung submission was re-sent after the restart with the same request_id.
  const counts = new Map<string, number>();
  for (const r of requests) counts.set(r.request_id, (counts.get(r.request_id) ?? 0) + 1);
  assert.ok(
    [...counts.values()].some((n) => n >= 2),
    'the unknown-outcome submission was re-sent',
  );
  // In the job document: each slot once, each request_id once.
  const runs = doc.results.data;
  assert.equal(new Set(runs.map((r) => r.slot)).size, runs.length);
  assert.equal(new Set(runs.map((r) => r.request_id)).size, runs.length);
  assert.ok(runs.filter((r) => r.completed_at !== null).every((r) => r.action_status === 'SUCCEEDED'));
});
