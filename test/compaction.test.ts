/**
 * Compact history (issue 17 item 1): each job keeps its newest runs (and its newest failure)
 * whole; older ones move to run_archive as what `job history` prints. History reads the same
 * — text cell for cell, and JSON but for the dropped document —; open runs are never
 * touched; n_runs / n_errors stay exact; paging, filters, the timeline, per-job retention
 * and purge see both tables; a compacted run costs at most 200 bytes in the file; and a
 * 1-second job fires every slot while a daemon compacts 100,000 runs. Real SQLite in temp
 * dirs; the last test a real daemon and CLI.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { requestIdFor } from '../src/actions/request-id.ts';
import { historyCells } from '../src/core/history-line.ts';
import type { HistoryEntry, JobDocument } from '../src/contract/protocol.ts';
import type { RunState } from '../src/core/vocabulary.ts';
import { jobHistory } from '../src/daemon/jobs/history.ts';
import { insertJob } from '../src/daemon/store/jobs.ts';
import { openDb, type Db } from '../src/daemon/store/open.ts';
import { countRunsOfJob, compactJobRuns, lastFiredSlotAtMs, pruneJobRuns, pruneOldRuns, runsInWindow } from '../src/daemon/store/run-history.ts';
import { convertToIncrementalVacuum, giveBackFreePages } from '../src/daemon/store/vacuum.ts';
import { insertManualRun, insertRun, recordActionStatus, recordAttempt, recordRunFailure } from '../src/daemon/store/runs.ts';
import { JobService } from '../src/daemon/jobs/job-service.ts';
import { cliThatSucceeds, submitJob } from './support/api.ts';
import { FakeClock } from './support/clock.ts';
import { FAST_POLLING, startDaemonProcess, tempHome, testConfig } from './support/env.ts';
import { recordedStatusDocument, startFakeProvider } from './support/provider.ts';
import { writeSucceededRun } from './support/runs.ts';
import { until } from './support/until.ts';

const T0 = Date.parse('2026-06-01T00:00:00Z');
const MINUTE = 60_000;

function freshDb(t: TestContext): { db: Db } {
  const { paths } = tempHome(t);
  const db = openDb(paths.dbFile);
  t.after(() => db.$client.close());
  return { db };
}

function seedJob(db: Db, id = randomUUID()): string {
  insertJob(db, {
    id,
    name: 'nightly',
    startAtMs: T0,
    intervalSeconds: 60,
    callbackUrl: 'https://actions.globus.org/transfer/transfer/run',
    callbackBody: { body: {} },
    status: 'loaded',
    submittedAtMs: T0,
    nextSlotIndex: 0,
    updatedAtMs: T0,
  });
  return id;
}

/** A Globus Transfer status document as the provider sends it (the recorded one), with these counts. */
function transferDocument(status: 'SUCCEEDED' | 'FAILED', files: number, bytes: number): Record<string, unknown> {
  const doc = recordedStatusDocument();
  return {
    ...doc,
    status,
    display_status: status,
    details: {
      DATA_TYPE: 'task',
      type: 'TRANSFER',
      files,
      files_transferred: files,
      bytes_transferred: bytes,
      nice_status: null,
      status: status === 'FAILED' ? 'FAILED' : 'SUCCEEDED',
    },
  };
}

/**
 * A job's runs of every kind, slot k at T0 + k minutes: transfers that succeeded (their
 * documents), failed ones with an error and the provider's error document, one a provider
 * answered with a non-UUID action id, one retried three times, manual runs (`job run`), and
 * one still open among the old ones (an action ACTIVE for hours). Returns the open run's id.
 */
function seedMixedRuns(db: Db, jobId: string, n: number): number {
  let openId = 0;
  for (let k = 0; k < n; k++) {
    const slotAtMs = T0 + k * MINUTE;
    const manual = k % 17 === 5;
    const run = manual
      ? insertManualRun(db, { jobId, slotAtMs, requestId: randomUUID(), firedAtMs: slotAtMs + 3, retryUntilMs: slotAtMs + MINUTE })
      : insertRun(db, { jobId, slotAtMs, requestId: requestIdFor(jobId, slotAtMs), firedAtMs: slotAtMs + (k % 7), retryUntilMs: slotAtMs + MINUTE })!;
    const attempts = k % 11 === 3 ? 3 : 1;
    recordAttempt(db, run.id, attempts, slotAtMs + (k % 7) + (attempts - 1) * 1000);
    if (k === 4) {
      openId = run.id;
      recordActionStatus(db, run.id, {
        state: 'active',
        httpStatus: 202,
        actionId: randomUUID(),
        actionStatus: 'ACTIVE',
        actionDocument: { status: 'ACTIVE' },
        completedAtMs: null,
      });
      continue;
    }
    const endMs = slotAtMs + 40_000 + k;
    // The newest 15 all succeed: the newest failure is older than the runs kept whole.
    const mayFail = k < n - 15;
    if (mayFail && k % 9 === 2) {
      recordRunFailure(
        db,
        run.id,
        {
          code: 'ACTION_HTTP',
          message: `the provider refused the request (HTTP 400): bad path /data/${k}`,
          httpStatus: 400,
          providerError: { code: 'BadRequest', details: 'x'.repeat(2000) },
        },
        endMs,
        400,
      );
    } else if (mayFail && k % 13 === 6) {
      recordActionStatus(db, run.id, {
        state: 'failed',
        httpStatus: 202,
        actionId: randomUUID(),
        actionStatus: 'FAILED',
        actionDocument: transferDocument('FAILED', k, k * 1000),
        completedAtMs: endMs,
      });
    } else {
      const actionId = k % 10 === 7 ? `TASK-${k}` : randomUUID();
      recordActionStatus(db, run.id, {
        state: 'succeeded',
        httpStatus: 202,
        actionId,
        actionStatus: 'SUCCEEDED',
        actionDocument: transferDocument('SUCCEEDED', 100 + k, (k + 1) * 1_048_576),
        completedAtMs: endMs,
      });
    }
  }
  return openId;
}

/** Every run of the job as `job.history` gives it, newest first, page by page (`limit` a page). */
function allHistory(db: Db, jobId: string, limit: number, filters: { status?: RunState; since?: string } = {}): HistoryEntry[] {
  const out: HistoryEntry[] = [];
  let cursor: string | null = null;
  do {
    const page = jobHistory(db, { job_id: jobId, limit, ...(cursor ? { cursor } : {}), ...filters });
    out.push(...page.runs);
    cursor = page.next_cursor;
  } while (cursor);
  return out;
}

/** Compact everything that may be, as the daemon's passes would. */
function compactAll(db: Db, jobId: string, keep: number, endedBeforeMs = Number.MAX_SAFE_INTEGER): number {
  let total = 0;
  for (let more = true; more; ) {
    const chunk = compactJobRuns(db, jobId, keep, endedBeforeMs, 100);
    total += chunk.moved;
    more = chunk.more;
  }
  return total;
}

const archived = (db: Db) => db.$client.prepare('SELECT count(*) FROM run_archive').pluck().get() as number;

test('compaction keeps history: the same text, the same JSON but the documents; open runs and the newest failure stay whole', (t) => {
  const { db } = freshDb(t);
  const jobId = seedJob(db);
  const openId = seedMixedRuns(db, jobId, 120);
  const before = allHistory(db, jobId, 1000);
  const beforeFiltered = {
    failed: allHistory(db, jobId, 7, { status: 'failed' }),
    since: allHistory(db, jobId, 9, { since: new Date(T0 + 50 * MINUTE).toISOString() }),
  };
  const windowBefore = runsInWindow(db, T0, T0 + 200 * MINUTE, 1000);

  const moved = compactAll(db, jobId, 10);
  // 120 runs: 10 newest kept, the open one and the newest failure too (if older than those 10).
  const live = db.$client.prepare('SELECT id, state, completed_at_ms, action_document IS NOT NULL AS doc FROM runs ORDER BY id').all() as {
    id: number;
    state: string;
    doc: number;
  }[];
  assert.equal(moved + live.length, 120);
  assert.ok(moved >= 107, `moved ${moved}`);
  assert.equal(archived(db), moved);
  assert.ok(
    live.some((r) => r.id === openId && r.state === 'active'),
    'the open run stays in runs, untouched',
  );
  const newestFailure = before.find((r) => r.run_state === 'failed')!;
  assert.ok(newestFailure.ran_at < before[9]!.ran_at, 'the seed has its newest failure beyond the newest 10');
  const keptFailure = allHistory(db, jobId, 1000).find((r) => r.request_id === newestFailure.request_id)!;
  assert.deepEqual(keptFailure, newestFailure, 'the newest failure keeps its document and the provider error');

  const after = allHistory(db, jobId, 1000);
  const keptWhole = new Set(db.$client.prepare('SELECT request_id FROM runs').pluck().all() as string[]);
  assert.equal(after.length, before.length);
  const time = (iso: string) => iso;
  for (let i = 0; i < before.length; i++) {
    const [b, a] = [before[i]!, after[i]!];
    assert.deepEqual(historyCells(a, time), historyCells(b, time), `run ${i}: the history line`);
    // JSON: everything but the document, and the provider's error document, which only whole runs keep.
    const { providerError: _dropped, ...errorShown } = (b.errors ?? {}) as Record<string, unknown>;
    const expected = keptWhole.has(b.request_id) ? b : { ...b, data: null, errors: b.errors ? errorShown : null };
    assert.deepEqual(a, expected, `run ${i}: the history entry`);
  }
  assert.ok(after.filter((r) => r.data === null).length >= 100, 'the older runs lost their documents');
  // Paging with small pages across both tables, and the filters, give what they gave.
  assert.deepEqual(
    allHistory(db, jobId, 7).map((r) => r.request_id),
    before.map((r) => r.request_id),
  );
  assert.deepEqual(
    allHistory(db, jobId, 7, { status: 'failed' }).map((r) => r.request_id),
    beforeFiltered.failed.map((r) => r.request_id),
  );
  assert.deepEqual(
    allHistory(db, jobId, 9, { since: new Date(T0 + 50 * MINUTE).toISOString() }).map((r) => r.request_id),
    beforeFiltered.since.map((r) => r.request_id),
  );
  // The timeline sees every run, archived ones without a document.
  const windowAfter = runsInWindow(db, T0, T0 + 200 * MINUTE, 1000);
  assert.deepEqual(
    windowAfter.map(({ hasDocument: _, compactedSummary: _s, error, ...r }) => ({ ...r, error: error ? { code: error.code, message: error.message } : null })),
    windowBefore.map(({ hasDocument: _, error, ...r }) => ({ ...r, error: error ? { code: error.code, message: error.message } : null })),
  );
  // ...and the dashboard's tooltip the summary `job history` prints.
  const summaryAt = new Map(before.map((r) => [Date.parse(r.slot), r.summary]));
  const archivedInWindow = windowAfter.filter((r) => r.compactedSummary !== undefined);
  assert.equal(archivedInWindow.length, moved);
  for (const r of archivedInWindow) assert.equal(r.compactedSummary, summaryAt.get(r.slotAtMs));
  assert.equal(countRunsOfJob(db, jobId), 120);
  // Compacting again moves nothing.
  assert.equal(compactAll(db, jobId, 10), 0);
});

test('the job document keeps its ten results and exact totals; a job keeping fewer whole runs shows archived ones after them', (t) => {
  const { db } = freshDb(t);
  const clock = new FakeClock(T0 + 1000 * MINUTE);
  const service = new JobService({ db, clock, config: testConfig(), onScheduleChange: () => {} });
  const jobId = seedJob(db);
  seedMixedRuns(db, jobId, 60);
  db.$client.prepare('UPDATE jobs SET run_count = 60, error_count = 9 WHERE id = ?').run(jobId);
  const before = service.get(jobId) as JobDocument;
  compactAll(db, jobId, 10);
  assert.deepEqual(service.get(jobId), before, 'the newest ten are whole: the document is unchanged');
  compactAll(db, jobId, 3);
  const after = service.get(jobId) as JobDocument;
  assert.equal(after.n_runs, 60);
  assert.equal(after.n_errors, 9);
  assert.deepEqual(
    after.results.data.map((r) => r.request_id),
    before.results.data.map((r) => r.request_id),
    'ten results, newest first, across both tables',
  );
  assert.deepEqual(
    after.results.data.slice(0, 3).map((r) => r.data),
    before.results.data.slice(0, 3).map((r) => r.data),
  );
  assert.ok(after.results.data.slice(3).some((r) => r.data === null));
});

test('retention, per-job limits, purge and the last fired slot see the archive', (t) => {
  const { db } = freshDb(t);
  const jobId = seedJob(db);
  const other = seedJob(db);
  seedMixedRuns(db, jobId, 100);
  seedMixedRuns(db, other, 30);
  const lastSlot = lastFiredSlotAtMs(db, jobId);
  compactAll(db, jobId, 10);
  compactAll(db, other, 10);
  // A job with only manual runs lately: its newest grid run is archived, and still counts.
  for (let k = 0; k < 12; k++) insertManualRun(db, { jobId, slotAtMs: T0 + (200 + k) * MINUTE, requestId: randomUUID(), firedAtMs: T0, retryUntilMs: T0 });
  db.$client.prepare("UPDATE runs SET state = 'succeeded', completed_at_ms = ? WHERE manual = 1 AND completed_at_ms IS NULL").run(T0 + 300 * MINUTE);
  compactAll(db, jobId, 10);
  assert.equal(lastFiredSlotAtMs(db, jobId), lastSlot, 'the newest grid slot, though archived');

  // Per-job limit 50: the newest 50 across both tables stay (the open run too).
  while (pruneJobRuns(db, jobId, 50, 7) > 0);
  const kept = allHistory(db, jobId, 1000);
  assert.equal(kept.length, 51, 'the newest 50 and the open run, older than them');
  assert.equal(countRunsOfJob(db, jobId), 51);
  // By age: runs that ended before slot 95 go from both tables; the other job's runs (slots < 30) all go but its open run.
  while (pruneOldRuns(db, T0 + 95 * MINUTE, 10) > 0);
  assert.equal(countRunsOfJob(db, other), 1, 'only the open run is left');
  assert.ok(
    allHistory(db, jobId, 1000).every((r) => r.run_state === 'active' || Date.parse(r.completed_at!) >= T0 + 95 * MINUTE),
    'nothing that ended before the cut is left',
  );
  // Purge: the archived runs go with the job.
  db.$client.prepare("UPDATE jobs SET status = 'deleted' WHERE id = ?").run(jobId);
  db.$client.prepare('UPDATE runs SET completed_at_ms = 1 WHERE completed_at_ms IS NULL').run();
  const service = new JobService({ db, clock: new FakeClock(T0), config: testConfig(), onScheduleChange: () => {} });
  service.purge({ job_ids: [jobId] });
  assert.equal(
    db.$client
      .prepare('SELECT count(*) FROM run_archive WHERE job_key = ?')
      .pluck()
      .get(Buffer.from(jobId.replaceAll('-', ''), 'hex')),
    0,
  );
  assert.equal(countRunsOfJob(db, jobId), 0);
});

test('a compacted run costs at most 200 bytes in the file (50 jobs × 400 transfer runs)', (t) => {
  const { db } = freshDb(t);
  const tables = (name: string) =>
    (db.$client.prepare('SELECT sum(pgsize) FROM dbstat WHERE name IN (SELECT name FROM sqlite_schema WHERE tbl_name = ?)').pluck().get(name) as number) ?? 0;
  const JOBS = 50;
  const RUNS = 400;
  const jobIds = Array.from({ length: JOBS }, () => seedJob(db));
  // As the daemon writes them, a slot at a time across the jobs, with Transfer documents, and
  // compacts them: each job's oldest whole run moves once a newer one has ended.
  let wholeBytes = 0;
  for (let k = 0; k < RUNS; k++) {
    db.transaction(() => {
      for (const jobId of jobIds) {
        writeSucceededRun(db, jobId, T0 + k * MINUTE, transferDocument('SUCCEEDED', 100 + (k % 50), (k + 1) * 10_485_760));
      }
    });
    // The whole runs' cost, measured once the runs table holds 10 a job (before the first move).
    if (k === 9) wholeBytes = tables('runs') / (JOBS * 10);
    for (const jobId of jobIds) compactJobRuns(db, jobId, 10, Number.MAX_SAFE_INTEGER, 10);
  }
  const compacted = archived(db);
  assert.equal(compacted, JOBS * (RUNS - 10));
  const perRun = tables('run_archive') / compacted;
  t.diagnostic(`bytes per run: ${wholeBytes.toFixed(0)} whole, ${perRun.toFixed(1)} compacted (run_archive and its indexes)`);
  assert.ok(perRun <= 200, `a compacted run costs ${perRun.toFixed(1)} bytes`);
  // The documents' pages were reused, not added to: the file is about the archive plus ten whole runs a job.
  const fileBytes = (db.$client.pragma('page_count', { simple: true }) as number) * (db.$client.pragma('page_size', { simple: true }) as number);
  assert.ok(fileBytes < tables('run_archive') + tables('runs') + tables('jobs') + (2 << 20), `file ${fileBytes} bytes`);
});

test('a daemon compacts 100,000 runs at start while a 1-second job fires every slot, once, never early; `job history` prints the same', async (t) => {
  const ap = await startFakeProvider();
  t.after(() => ap.close());
  ap.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 0, final: 'SUCCEEDED' };
  const { env: base, paths } = tempHome(t);
  // Everything kept whole at first: the history printed before compaction.
  const env = { ...base, ...FAST_POLLING, GLOBUS_TIMER_NO_AUTOSTART: '1', GLOBUS_TIMER_FULL_RUNS_PER_JOB: '1000000' };
  const cli = cliThatSucceeds(env);
  let daemon = await startDaemonProcess(t, env);
  const oldJob = await submitJob(cli, 'old', ap.runUrl, { flags: ['--stop-after-runs', '1'] });
  await daemon.stop();
  // 100,000 finished runs of 100 jobs, with small Transfer documents, written as the daemon would have.
  {
    const db = openDb(paths.dbFile);
    const jobIds = [oldJob, ...Array.from({ length: 99 }, () => seedJob(db))];
    // Recent (retention would prune runs older than 90 days): the last 1,000 minutes.
    const fromMs = Date.now() - 1001 * MINUTE;
    db.transaction(() => {
      for (let k = 0; k < 1000; k++) {
        for (const jobId of jobIds) {
          const doc = { status: 'SUCCEEDED', details: { DATA_TYPE: 'task', files: 10, files_transferred: 10, bytes_transferred: k * 1000 } };
          writeSucceededRun(db, jobId, fromMs + k * MINUTE, doc);
        }
      }
      db.$client.prepare('UPDATE jobs SET run_count = 1000').run();
    });
    db.$client.close();
  }
  daemon = await startDaemonProcess(t, env);
  const historyBefore = await cli('job', 'history', oldJob, '--limit', '1000');
  await daemon.stop();

  // Now with the default (10 whole runs a job): the start's sweep compacts 99,000 runs.
  const compactingEnv = { ...env, GLOBUS_TIMER_FULL_RUNS_PER_JOB: '10' };
  const reader = () => {
    const db = new Database(paths.dbFile, { readonly: true, fileMustExist: true });
    try {
      return db.prepare('SELECT count(*) FROM run_archive').pluck().get() as number;
    } finally {
      db.close();
    }
  };
  daemon = await startDaemonProcess(t, compactingEnv);
  const start = new Date(Math.ceil((Date.now() + 1500) / 1000) * 1000).toISOString();
  const cliNow = cliThatSucceeds(compactingEnv);
  const fast = await submitJob(cliNow, 'every-second', ap.runUrl, { interval: '1s', start });
  const sweepStartMs = Date.now();
  await until('the sweep to compact 99,000 runs', async () => reader() >= 99_000, { timeoutMs: 240_000, everyMs: 500 });
  t.diagnostic(
    `compacted 99,000 runs in ${Date.now() - sweepStartMs} ms; WAL ${(fs.statSync(`${paths.dbFile}-wal`).size / 1048576).toFixed(1)} MiB, store ${(fs.statSync(paths.dbFile).size / 1048576).toFixed(1)} MiB`,
  );
  // A few more slots after the sweep, then stop the job and read what it did.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  await cliNow('job', 'pause', fast);
  const firedDuring = Date.now() - Date.parse(start);
  const runs = JSON.parse(await cliNow('job', 'history', fast, '--limit', '1000', '--format', 'json')) as { runs: HistoryEntry[] } | HistoryEntry[];
  const list = (Array.isArray(runs) ? runs : runs.runs).filter((r) => !r.manual);
  const slots = list.map((r) => Date.parse(r.slot)).sort((a, b) => a - b);
  assert.ok(slots.length >= 3 && slots.length >= Math.floor(firedDuring / 1000) - 2, `${slots.length} runs in ${firedDuring} ms`);
  for (let i = 1; i < slots.length; i++) assert.equal(slots[i]! - slots[i - 1]!, 1000, 'every slot, once');
  const lateness = list.map((r) => r.lateness_ms!);
  assert.ok(
    lateness.every((ms) => ms >= 0),
    'never early',
  );
  // A step of compaction is 2 ms at most; one sweep done in one go would hold a fire up for seconds.
  assert.ok(
    Math.max(...lateness) < 250,
    `fire lateness while compacting: max ${Math.max(...lateness)} ms (${list.map((r) => `${r.slot.slice(17, 19)}:${r.lateness_ms}`).join(' ')})`,
  );
  t.diagnostic(`1-s job while compacting 99,000 runs: ${slots.length} runs, lateness max ${Math.max(...lateness)} ms`);
  const historyAfter = await cliNow('job', 'history', oldJob, '--limit', '1000');
  assert.equal(historyAfter, historyBefore, '`job history` prints the same for compacted runs');
  const oldDoc = JSON.parse(await cliNow('job', 'status', oldJob, '--format', 'json')) as JobDocument;
  assert.equal(oldDoc.n_runs, 1000);
  // At rest (nothing due: the job is paused), the WAL the sweep grew is cut back (store/checkpointer.ts).
  const walBytes = () => fs.statSync(`${paths.dbFile}-wal`).size;
  await until('the WAL at rest to be 4 MiB at most', async () => walBytes() <= 4 << 20, { timeoutMs: 30_000, everyMs: 500 });
  await daemon.stop();
});

test('freed pages go back to the file system: a store from before converts once to incremental auto-vacuum, then gives back in steps', (t) => {
  const { paths } = tempHome(t);
  // A store as globus-timer made them before issue 17: no auto-vacuum.
  const legacy = new Database(paths.dbFile);
  legacy.pragma('journal_mode = WAL');
  legacy.exec('CREATE TABLE legacy_marker (x)');
  legacy.close();
  fs.chmodSync(paths.dbFile, 0o600);
  const db = openDb(paths.dbFile);
  t.after(() => db.$client.close());
  assert.equal(db.$client.pragma('auto_vacuum', { simple: true }), 0);
  assert.equal(typeof convertToIncrementalVacuum(db), 'number', 'converted');
  assert.equal(db.$client.pragma('auto_vacuum', { simple: true }), 2);
  assert.equal(convertToIncrementalVacuum(db), null, 'once');
  const jobId = seedJob(db);
  db.transaction(() => {
    for (let k = 0; k < 3000; k++) {
      writeSucceededRun(db, jobId, T0 + k * MINUTE, { ...transferDocument('SUCCEEDED', 1, 1), padding: 'x'.repeat(4000) });
    }
  });
  const pages = () => db.$client.pragma('page_count', { simple: true }) as number;
  const free = () => db.$client.pragma('freelist_count', { simple: true }) as number;
  const full = pages();
  while (pruneOldRuns(db, T0 + 3000 * MINUTE, 500) > 0);
  assert.ok(free() > 1024, `retention freed ${free()} pages`);
  assert.equal(pages(), full, 'freed, not yet given back');
  const steps: number[] = [];
  for (let n = giveBackFreePages(db, 32); n > 0; n = giveBackFreePages(db, 32)) steps.push(n);
  assert.ok(steps.length > 1 && steps.every((n) => n <= 32), 'in small steps');
  assert.ok(free() * 4096 <= 4 << 20, 'a few MiB of free pages kept for reuse');
  assert.ok(pages() < full - 1000, `the file shrank from ${full} to ${pages()} pages`);
});
