/**
 * The dashboard's timeline query and its sessions, below the HTTP door: the runs of a window
 * come through the runs_slot index without their action documents, a summary reads its
 * document only while an 8 MiB budget lasts (a document may be 1 MiB, a window 20,000 runs),
 * and login codes and sessions expire and end as api/sessions.ts says.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { requestIdFor } from '../src/actions/request-id.ts';
import { formatIso } from '../src/core/time.ts';
import { dashboardRoutes } from '../src/daemon/api/dashboard-routes.ts';
import type { ApiJobs } from '../src/daemon/api/jobs.ts';
import { DashboardSessions, LOGIN_CODE_TTL_MS, newLoginCode, SESSION_TTL_MS } from '../src/daemon/api/sessions.ts';
import { JobService } from '../src/daemon/jobs/job-service.ts';
import { openDb } from '../src/daemon/store/open.ts';
import { insertRun, recordActionStatus, recordRunFailure, runActionDocumentText } from '../src/daemon/store/runs.ts';
import { runsInWindow } from '../src/daemon/store/run-history.ts';
import { FakeClock } from './support/clock.ts';
import { tempHome, testConfig } from './support/env.ts';

const T0 = Date.parse('2026-03-01T00:00:00Z');
/** A document past 1 MB: twelve of them are more than the budget. */
const BIG = 'x'.repeat(1_000_000);

function seeded(t: TestContext) {
  const { paths } = tempHome(t);
  const db = openDb(paths.dbFile);
  t.after(() => db.$client.close());
  const service = new JobService({ db, clock: new FakeClock(T0), config: testConfig(), onScheduleChange: () => {} });
  const job = service.submit({
    name: 'tl',
    start: formatIso(T0),
    interval_seconds: 60,
    callback_url: 'https://ap.example.org/run',
    callback_body: { body: {} },
  });
  db.transaction(() => {
    for (let k = 0; k < 14; k++) {
      const slot = T0 + k * 60_000;
      const run = insertRun(db, { jobId: job.job_id, slotAtMs: slot, requestId: requestIdFor(job.job_id, slot), firedAtMs: slot + 5, retryUntilMs: slot })!;
      if (k === 13) continue; // the newest is pending
      if (k === 12) recordRunFailure(db, run.id, { code: 'ACTION_HTTP', message: 'provider answered HTTP 400' }, slot + 50, 400);
      else
        recordActionStatus(db, run.id, {
          state: 'succeeded',
          httpStatus: 202,
          actionId: `a${k}`,
          actionStatus: 'SUCCEEDED',
          actionDocument: { status: 'SUCCEEDED', details: `run ${k} ${BIG}` },
          completedAtMs: slot + 50,
        });
    }
  });
  return { db, jobId: job.job_id };
}

test('the timeline: runs without documents, through runs_slot; summaries read documents within the byte budget', async (t) => {
  const { db, jobId } = seeded(t);
  const plan = db.$client
    .prepare('EXPLAIN QUERY PLAN SELECT id FROM runs WHERE slot_at_ms >= ? AND slot_at_ms < ? ORDER BY slot_at_ms DESC, id DESC LIMIT 10')
    .all(0, T0 * 2) as { detail: string }[];
  assert.match(plan.map((p) => p.detail).join('\n'), /USING (COVERING )?INDEX runs_slot/, 'the window is read through the index, not a scan');
  assert.doesNotMatch(plan.map((p) => p.detail).join('\n'), /TEMP B-TREE/, 'no sort: the index gives the order');

  const rows = runsInWindow(db, T0, T0 + 3600_000, 100);
  assert.equal(rows.length, 14);
  assert.ok(!rows.some((r) => 'actionDocument' in r), 'no documents in the rows');
  assert.deepEqual(
    rows.map((r) => r.hasDocument),
    [false, false, ...Array(12).fill(true)],
  );

  let read = 0;
  let chars = 0;
  const routes = dashboardRoutes({
    jobs: {} as ApiJobs,
    runsInWindow: (since, until, limit) => runsInWindow(db, since, until, limit),
    actionDocument: (id) => {
      const text = runActionDocumentText(db, id);
      read++;
      chars += text?.length ?? 0;
      return text;
    },
    listJobs: () => ({ status: 200, body: {} }),
    now: () => T0 + 3600_000,
  });
  const timeline = routes.find((r) => r.pattern === '/dashboard/api/runs')!;
  const answer = (await timeline.handle({
    method: 'GET',
    path: '/dashboard/api/runs',
    params: {},
    query: new URLSearchParams({ since: String(T0) }),
    body: undefined,
  })) as {
    body: { runs: { job: string; state: string; summary: string }[] };
  };
  const runs = answer.body.runs;
  assert.equal(runs.length, 14);
  assert.ok(runs.every((r) => r.job === jobId));
  // Newest first: pending (no document), failed (its error, no document read), then the documents.
  assert.equal(runs[0]!.summary, 'not sent yet');
  assert.equal(runs[1]!.summary, 'provider answered HTTP 400');
  assert.ok(read >= 8 && read < 12, `documents read: ${read} (the budget is 8 MiB, each is 1 MB)`);
  assert.ok(chars <= (8 << 20) + BIG.length + 100, `${chars} characters read`);
  const full = runs.slice(2, 2 + read);
  const bare = runs.slice(2 + read);
  for (const [i, r] of full.entries()) assert.match(r.summary, new RegExp(`^SUCCEEDED: run ${11 - i} x+…$`));
  assert.ok(bare.length > 0);
  for (const r of bare) assert.equal(r.summary, 'SUCCEEDED', 'past the budget: the status alone');
});

test('sessions: a login code works once and for 5 minutes; a session lasts 12 hours, any matching cookie counts, rotation ends all', () => {
  let now = T0;
  const s = new DashboardSessions(() => now);
  const code = newLoginCode();
  assert.match(code, /^[\w-]{43}$/);
  assert.equal(s.redeem(code), null, 'not handed over yet');
  s.addLoginCode(code);
  const id = s.redeem(code);
  assert.ok(id !== null && /^[\w-]{43}$/.test(id));
  assert.equal(s.redeem(code), null, 'a used code');
  assert.equal(s.valid([id]), true);
  assert.equal(s.valid(['tossed-by-another-port', id]), true, 'any matching cookie');
  assert.equal(s.valid(['tossed-by-another-port']), false);
  assert.equal(s.valid([]), false);

  const late = newLoginCode();
  s.addLoginCode(late);
  now += LOGIN_CODE_TTL_MS;
  assert.equal(s.redeem(late), null, 'an expired code');
  const early = newLoginCode();
  s.addLoginCode(early);
  now += LOGIN_CODE_TTL_MS - 1;
  const second = s.redeem(early);
  assert.ok(second !== null, 'a code just inside its 5 minutes');

  now = T0 + SESSION_TTL_MS - 1;
  assert.equal(s.valid([id]), true);
  now = T0 + SESSION_TTL_MS;
  assert.equal(s.valid([id]), false, 'a session past 12 hours');
  assert.equal(s.valid([second]), true);

  const pending = newLoginCode();
  s.addLoginCode(pending);
  s.revokeAll();
  assert.equal(s.valid([second]), false, 'rotation ends sessions');
  assert.equal(s.redeem(pending), null, 'and unused codes');
});
