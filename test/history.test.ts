/**
 * `job history` (issue 7 item 4): the one-line summaries of recorded provider payloads
 * (pure), keyset paging and filters of `job.history` on a real SQLite file, and the command
 * end to end through the real CLI against a daemon on a fake clock and a loopback provider.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { requestIdFor } from '../src/actions/request-id.ts';
import { openDb } from '../src/daemon/store/open.ts';
import { insertRun, recordActionStatus, recordRunFailure, updateRun } from '../src/daemon/store/runs.ts';
import type { RunRow } from '../src/daemon/store/schema.ts';
import { ERROR_CODES, RpcError, TimerError } from '../src/core/errors.ts';
import { jobHistory } from '../src/daemon/jobs/history.ts';
import { formatBytes, summarizeActionStatus, summarizeRun } from '../src/core/run-summary.ts';
import { JobService } from '../src/daemon/jobs/job-service.ts';
import { formatIso } from '../src/core/time.ts';
import { historyQueryFromFlags } from '../src/cli/commands/job/history.ts';
import { formatLateness } from '../src/core/history-line.ts';
import { RpcClient } from '../src/contract/client.ts';
import type { HistoryEntry } from '../src/contract/protocol.ts';
import { FakeClock } from './support/clock.ts';
import { clockedDaemon, waitFor, type ClockedDaemon } from './support/clocked-daemon.ts';
import { tempHome, testConfig } from './support/env.ts';
import { readFixture, recordedStatusDocument } from './support/provider.ts';

const T0 = Date.parse('2026-03-02T08:00:00Z');

/** The recorded Transfer task (SUCCEEDED, 1 file, 4 bytes): what a Transfer action's `details` carry. */
function transferTask(over: Record<string, unknown> = {}): Record<string, unknown> {
  const list = readFixture<{ responses: { default: { json: { DATA: Record<string, unknown>[] } } } }>('transfer_task_list.json');
  return { ...structuredClone(list.responses.default.json.DATA[0]!), DATA_TYPE: 'task', ...over };
}

// ---------------------------------------------------------------------------------------
// Summaries (pure, recorded payloads)

test('summaries of recorded Transfer action status documents', () => {
  // The hosted service's recorded run: a queued transfer (ACTIVE, nice_status Queued).
  assert.equal(summarizeActionStatus(recordedStatusDocument()), 'Queued; 0 files, 0 B transferred so far');
  // The recorded Transfer task, as a SUCCEEDED action's details.
  const ok = { action_id: 'a1', status: 'SUCCEEDED', display_status: 'SUCCEEDED', details: transferTask(), label: null };
  assert.equal(summarizeActionStatus(ok), '1 file, 4 B transferred');
  assert.equal(
    summarizeActionStatus({ ...ok, details: transferTask({ files: 12, files_transferred: 12, bytes_transferred: 3_400_000 }) }),
    '12 files, 3.4 MB transferred',
  );
  assert.equal(
    summarizeActionStatus({
      ...ok,
      details: transferTask({ files: 14, files_transferred: 12, files_skipped: 2, bytes_transferred: 1_234_567_890, faults: 3 }),
    }),
    '12 files, 1.2 GB transferred, 2 skipped, 3 faults',
  );
  // A fault: Transfer's fatal_error {code, description}.
  const failed = {
    ...ok,
    status: 'FAILED',
    display_status: 'FAILED',
    details: transferTask({
      status: 'FAILED',
      files: 3,
      files_transferred: 1,
      bytes_transferred: 2048,
      fatal_error: { code: 'PERMISSION_DENIED', description: 'permission denied on /share/godata/file2.txt' },
    }),
  };
  assert.equal(summarizeActionStatus(failed), 'fault: PERMISSION_DENIED: permission denied on /share/godata/file2.txt; 1 of 3 files, 2.0 kB transferred');
  // An ACTIVE task with a problem: nice_status says what.
  const stuck = {
    ...ok,
    status: 'ACTIVE',
    details: transferTask({
      status: 'ACTIVE',
      files: 5,
      files_transferred: 0,
      bytes_transferred: 0,
      nice_status: 'CONNECTION_FAILED',
      nice_status_short_description: 'Connection failed',
    }),
  };
  assert.equal(summarizeActionStatus(stuck), 'CONNECTION_FAILED: Connection failed; 0 of 5 files, 0 B transferred so far');
});

test('summaries of other providers, of failed submissions and of runs still being sent', () => {
  const started = readFixture<{ responses: { default: { json: Record<string, unknown> } } }>('flows_run_flow.json').responses.default.json;
  assert.equal(summarizeActionStatus(started), 'ACTIVE: FlowStarting: The Flow is starting execution');
  const canceled = readFixture<{ responses: { default: { json: Record<string, unknown> } } }>('flows_cancel_run.json').responses.default.json;
  assert.equal(summarizeActionStatus(canceled), 'FAILED: FlowCanceled: The Flow Instance was canceled by the user');
  assert.equal(summarizeActionStatus({ status: 'SUCCEEDED', display_status: 'Done', details: { answer: 42 } }), 'SUCCEEDED (Done): {"answer":42}');
  assert.equal(summarizeActionStatus({ status: 'succeeded' }), 'SUCCEEDED');
  assert.equal(summarizeActionStatus({ status: 'ACTIVE', details: 'line one\n  line two' }), 'ACTIVE: line one line two');
  const long = summarizeActionStatus({ status: 'ACTIVE', details: 'x'.repeat(500) });
  assert.equal(long.length, 160);
  assert.ok(long.endsWith('…'));

  const base: Pick<RunRow, 'state' | 'attempts' | 'actionStatus' | 'actionDocument' | 'error'> = {
    state: 'failed',
    attempts: 1,
    actionStatus: null,
    actionDocument: null,
    error: { code: 'ACTION_HTTP', message: 'provider answered HTTP 400: BadRequest: source_endpoint_id is not a UUID', httpStatus: 400 },
  };
  assert.equal(summarizeRun(base), 'provider answered HTTP 400: BadRequest: source_endpoint_id is not a UUID');
  assert.equal(
    summarizeRun({ ...base, state: 'pending', attempts: 3, error: { code: 'ACTION_HTTP', message: 'provider answered HTTP 503' } }),
    'retrying (attempt 3) after: provider answered HTTP 503',
  );
  assert.equal(summarizeRun({ ...base, state: 'pending', attempts: 0, error: null }), 'not sent yet');
  assert.equal(summarizeRun({ ...base, state: 'pending', attempts: 1, error: null }), 'sent; waiting for the provider to answer');
  assert.equal(
    summarizeRun({ ...base, state: 'succeeded', error: null, actionStatus: 'SUCCEEDED', actionDocument: { status: 'SUCCEEDED', details: transferTask() } }),
    '1 file, 4 B transferred',
  );
});

test('formatBytes and formatLateness', () => {
  const bytes: [number, string][] = [
    [0, '0 B'],
    [999, '999 B'],
    [1000, '1.0 kB'],
    [2048, '2.0 kB'],
    [999_960, '1.0 MB'],
    [3_400_000, '3.4 MB'],
    [1.5e12, '1.5 TB'],
  ];
  for (const [n, text] of bytes) assert.equal(formatBytes(n), text, String(n));
  const late: [number, string][] = [
    [0, '0 ms'],
    [12, '12 ms'],
    [1_500, '1.5 s'],
    [185_000, '3m 05s'],
    [7_800_000, '2h 10m'],
  ];
  for (const [ms, text] of late) assert.equal(formatLateness(ms), text, String(ms));
});

test('history flags: checked before the daemon is asked (usage errors)', () => {
  assert.deepEqual(historyQueryFromFlags({}), { limit: 20, filters: {} });
  assert.deepEqual(historyQueryFromFlags({ limit: '5', since: '2026-03-01T00:00:00Z', status: 'FAILED' }), {
    limit: 5,
    filters: { since: '2026-03-01T00:00:00+00:00', status: 'failed' },
  });
  for (const flags of [
    { limit: '0' },
    { limit: '-3' },
    { limit: '2.5' },
    { limit: 'ten' },
    { since: 'yesterday' },
    { since: '2026-02-30' },
    { status: 'done' },
  ]) {
    assert.throws(
      () => historyQueryFromFlags(flags),
      (e: unknown) => e instanceof TimerError && e.code === ERROR_CODES.INVALID_INPUT,
      JSON.stringify(flags),
    );
  }
});

// ---------------------------------------------------------------------------------------
// job.history on a real database: keyset paging, filters

function seeded(t: TestContext, n: number) {
  const { paths } = tempHome(t);
  const db = openDb(paths.dbFile);
  t.after(() => db.$client.close());
  const service = new JobService({ db, clock: new FakeClock(T0), config: testConfig(), onScheduleChange: () => {} });
  const job = service.submit({
    name: 'h',
    start: formatIso(T0),
    interval_seconds: 60,
    callback_url: 'https://ap.example.org/run',
    callback_body: { body: {} },
  });
  db.transaction(() => {
    for (let k = 0; k < n; k++) {
      const slot = T0 + k * 60_000;
      const run = insertRun(db, {
        jobId: job.job_id,
        slotAtMs: slot,
        requestId: requestIdFor(job.job_id, slot),
        firedAtMs: slot + 7,
        retryUntilMs: slot + 30_000,
      })!;
      if (k === n - 1) continue; // the newest stays pending
      if (k % 5 === 4) recordRunFailure(db, run.id, { code: 'ACTION_HTTP', message: `run ${k} refused` }, slot + 100, 400);
      else
        recordActionStatus(db, run.id, {
          state: 'succeeded',
          httpStatus: 202,
          actionId: `a${k}`,
          actionStatus: 'SUCCEEDED',
          actionDocument: { status: 'SUCCEEDED', details: { files_transferred: k } },
          completedAtMs: slot + 100,
        });
    }
  });
  return { db, service, jobId: job.job_id };
}

test('job.history: newest first, keyset pages that neither skip nor repeat, since and status filters', (t) => {
  const { db, service, jobId } = seeded(t, 45);
  const slots: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page = service.history({ job_id: jobId, cursor, ...(pages === 0 ? {} : { limit: 20 }) });
    slots.push(...page.runs.map((r) => r.slot));
    cursor = page.next_cursor;
    pages += 1;
  } while (cursor);
  assert.equal(pages, 3, '20 + 20 + 5');
  assert.deepEqual(
    slots,
    Array.from({ length: 45 }, (_, i) => formatIso(T0 + (44 - i) * 60_000)),
    'every run once, newest first',
  );

  const first = service.history({ job_id: jobId, limit: 3 });
  assert.deepEqual(
    first.runs.map((r) => [r.run_state, r.summary, r.lateness_ms, r.manual]),
    [
      ['pending', 'not sent yet', 7, false],
      ['succeeded', '43 files transferred', 7, false],
      ['succeeded', '42 files transferred', 7, false],
    ],
  );
  const failed = service.history({ job_id: jobId, status: 'failed', limit: 1000 });
  assert.equal(failed.runs.length, 8);
  assert.ok(failed.runs.every((r) => r.run_state === 'failed' && /^run \d+ refused$/.test(r.summary) && r.status === 400));
  assert.equal(failed.next_cursor, null);
  const since = service.history({ job_id: jobId, since: formatIso(T0 + 40 * 60_000), limit: 1000 });
  assert.deepEqual(
    since.runs.map((r) => r.slot),
    [44, 43, 42, 41, 40].map((k) => formatIso(T0 + k * 60_000)),
    'fired at or after since',
  );
  // Filters and paging together.
  const p1 = service.history({ job_id: jobId, status: 'succeeded', limit: 30 });
  const p2 = service.history({ job_id: jobId, status: 'succeeded', limit: 30, cursor: p1.next_cursor });
  assert.equal(p1.runs.length + p2.runs.length, 36);
  assert.equal(p2.next_cursor, null);

  assert.throws(
    () => service.history({ job_id: jobId, cursor: 'garbage' }),
    (e: unknown) => e instanceof TimerError && e.code === ERROR_CODES.INVALID_INPUT,
  );
  assert.throws(
    () => service.history({ job_id: jobId, since: 'last week' }),
    (e: unknown) => e instanceof TimerError && e.code === ERROR_CODES.INVALID_INPUT,
  );
  assert.throws(
    () => service.history({ job_id: 'nope' }),
    (e: unknown) => e instanceof TimerError && e.code === ERROR_CODES.JOB_NOT_FOUND,
  );
  // A deleted job keeps its history.
  service.delete(jobId);
  assert.equal(jobHistory(db, { job_id: jobId }).runs.length, 20);
});

// ---------------------------------------------------------------------------------------
// End to end

function tableRows(stdout: string): string[][] {
  const lines = stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^Slot +\| Fired At +\| Late +\| Action ID +\| Status +\| Summary$/);
  assert.match(lines[1]!, /^-+(-\|-+)+$/);
  return lines
    .slice(2)
    .filter((l) => l.includes(' | '))
    .map((l) => l.split(' | ').map((c) => c.trim()));
}

async function historyJson(h: ClockedDaemon, args: string[]): Promise<{ job_id: string; runs: HistoryEntry[]; more: boolean }> {
  const r = await h.cli(['job', 'history', ...args, '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { job_id: string; runs: HistoryEntry[]; more: boolean };
}

test('job history through the CLI: grid and manual runs, transfer summaries, a failed submission, filters, json', async (t) => {
  const h = await clockedDaemon(t, { startMs: T0 });
  const jobId = await h.submit({ '--interval': '10', '--start': new Date(T0 + 10_000).toISOString(), '--overlap': 'allow' });
  const ended = (n: number) =>
    waitFor(`${n} runs to end`, () => h.daemon.service.history({ job_id: jobId, limit: 100 }).runs.filter((r) => r.completed_at !== null).length >= n);

  // Slot 0: a transfer of 12 files.
  h.provider.runReplies.push({
    kind: 'accept',
    httpStatus: 202,
    final: 'SUCCEEDED',
    document: { details: transferTask({ files: 12, files_transferred: 12, bytes_transferred: 3_400_000 }) },
  });
  h.clock.advance(10_000);
  await ended(1);
  // Slot 1: the provider refuses the request.
  h.provider.runReplies.push({ kind: 'raw', httpStatus: 400, body: { code: 'BadRequest', description: 'source_endpoint_id is not a valid UUID' } });
  h.clock.advance(10_000);
  await ended(2);
  // A manual run, 3 s later: a transfer that fails with a fault.
  h.clock.advance(3_000);
  h.provider.runReplies.push({
    kind: 'accept',
    httpStatus: 202,
    final: 'FAILED',
    document: {
      details: transferTask({
        status: 'FAILED',
        files: 3,
        files_transferred: 1,
        bytes_transferred: 2048,
        fatal_error: { code: 'PERMISSION_DENIED', description: 'no access to /share/b' },
      }),
    },
  });
  assert.equal((await h.cli(['job', 'run', jobId])).code, 0);
  await ended(3);
  // Slot 2: another provider's status document.
  h.provider.runReplies.push({
    kind: 'accept',
    httpStatus: 202,
    final: 'SUCCEEDED',
    document: { details: { code: 'FlowSucceeded', description: 'The Flow run reached a successful completion state' } },
  });
  h.clock.advance(7_000);
  await ended(4);

  const text = await h.cli(['job', 'history', jobId]);
  assert.equal(text.code, 0, text.stderr);
  const rows = tableRows(text.stdout);
  const actions = [...h.provider.actions.values()];
  const actionOf = (requestId: string) => actions.find((a) => a.requestId === requestId)?.actionId;
  const manualRequest = (h.provider.runRequests()[2]!.body as { request_id: string }).request_id;
  assert.deepEqual(rows, [
    [
      '2026-03-02T08:00:30+00:00',
      '2026-03-02T08:00:30+00:00',
      '0 ms',
      actionOf(requestIdFor(jobId, T0 + 30_000))!,
      'SUCCEEDED',
      'SUCCEEDED: FlowSucceeded: The Flow run reached a successful completion state',
    ],
    [
      'manual (job run)',
      '2026-03-02T08:00:23+00:00',
      '',
      actionOf(manualRequest)!,
      'FAILED',
      'fault: PERMISSION_DENIED: no access to /share/b; 1 of 3 files, 2.0 kB transferred',
    ],
    [
      '2026-03-02T08:00:20+00:00',
      '2026-03-02T08:00:20+00:00',
      '0 ms',
      '',
      'FAILED',
      'provider answered HTTP 400: BadRequest: source_endpoint_id is not a valid UUID',
    ],
    [
      '2026-03-02T08:00:10+00:00',
      '2026-03-02T08:00:10+00:00',
      '0 ms',
      actionOf(requestIdFor(jobId, T0 + 10_000))!,
      'SUCCEEDED',
      '12 files, 3.4 MB transferred',
    ],
  ]);

  const json = await historyJson(h, [jobId]);
  assert.equal(json.job_id, jobId);
  assert.equal(json.more, false);
  assert.deepEqual(
    json.runs.map((r) => [r.manual, r.lateness_ms, r.run_state, r.status]),
    [
      [false, 0, 'succeeded', 202],
      [true, null, 'failed', 202],
      [false, 0, 'failed', 400],
      [false, 0, 'succeeded', 202],
    ],
  );
  assert.equal(json.runs[1]!.request_id, manualRequest);

  assert.deepEqual(
    (await historyJson(h, [jobId, '--status', 'failed'])).runs.map((r) => r.summary.slice(0, 6)),
    ['fault:', 'provid'],
  );
  assert.deepEqual((await historyJson(h, [jobId, '--since', '2026-03-02T08:00:20Z'])).runs.length, 3);
  const limited = await h.cli(['job', 'history', jobId, '--limit', '2']);
  assert.equal(tableRows(limited.stdout).length, 2);
  assert.match(limited.stdout, /^\(the newest 2 runs; older ones with a larger --limit\)$/m);
  const none = await h.cli(['job', 'history', jobId, '--status', 'pending']);
  assert.equal(none.stdout.trim(), `No runs of job ${jobId} match.`);

  // Usage errors: exit 2, one line, the daemon not asked.
  for (const bad of [
    ['--since', 'yesterday'],
    ['--status', 'done'],
    ['--limit', '0'],
    ['--limit', 'abc'],
  ]) {
    const r = await h.cli(['job', 'history', jobId, ...bad]);
    assert.equal(r.code, 2, `${bad.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^globus-timer: invalid ${bad[0]}`));
  }
  const unknown = await h.cli(['job', 'history', '00000000-0000-4000-8000-00000000beef']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no job with id 00000000-0000-4000-8000-00000000beef/);

  // A job that never ran; a deleted job keeps its history.
  const fresh = await h.submit({ '--interval': '3600', '--start': '2099-01-01T00:00:00Z' });
  assert.equal((await h.cli(['job', 'history', fresh])).stdout.trim(), `Job ${fresh} has not run yet.`);
  assert.equal((await h.cli(['job', 'delete', jobId])).code, 0);
  assert.equal((await historyJson(h, [jobId])).runs.length, 4);
});

test('job history pages through the RPC: more than one 1,000-run page, and the RPC refuses pages over 1,000', async (t) => {
  const h = await clockedDaemon(t, { startMs: T0 });
  const jobId = await h.submit({ '--interval': '60', '--start': '2099-01-01T00:00:00Z' });
  const db = h.daemon.db;
  db.transaction(() => {
    for (let k = 0; k < 1_205; k++) {
      const slot = T0 - (1_205 - k) * 60_000;
      const run = insertRun(db, { jobId, slotAtMs: slot, requestId: requestIdFor(jobId, slot), firedAtMs: slot + 3, retryUntilMs: slot })!;
      updateRun(db, run.id, { state: 'succeeded', actionStatus: 'SUCCEEDED', actionDocument: { status: 'SUCCEEDED' }, completedAtMs: slot + 50 });
    }
  });
  const some = await historyJson(h, [jobId, '--limit', '1100']);
  assert.equal(some.runs.length, 1100);
  assert.equal(some.more, true);
  const all = await historyJson(h, [jobId, '--limit', '5000']);
  assert.equal(all.runs.length, 1205);
  assert.equal(all.more, false);
  const slots = all.runs.map((r) => Date.parse(r.slot));
  assert.ok(
    slots.every((s, i) => i === 0 || s < slots[i - 1]!),
    'newest first, no repeats',
  );
  assert.deepEqual(some.runs, all.runs.slice(0, 1100));

  const client = await RpcClient.connect(h.paths.socketPath);
  try {
    await assert.rejects(
      client.call('job.history', { job_id: jobId, limit: 1001 }),
      (e: unknown) => e instanceof RpcError && e.code === ERROR_CODES.INVALID_INPUT,
    );
    const page = await client.call('job.history', { job_id: jobId });
    assert.equal(page.runs.length, 20, 'default page: 20');
    assert.ok(page.next_cursor);
  } finally {
    client.close();
  }
});
