/**
 * How long a run is followed, and what is sent about it (issue 11 items 4, 5 and 8), each
 * reproduced against the real runner, scheduler and daemon on real SQLite with the loopback
 * fake Action Provider (test/support/provider.ts):
 * - `job delete` stops following the job's runs: their actions are cancelled and released,
 *   never polled again, also across a restart; runs past their lifetime are abandoned;
 *   `--overlap allow` has a cap of runs in flight; polls resumed after a restart are spread;
 * - a token the provider echoes in JSON escapes is redacted from everything kept;
 * - action ids `''`, `.` and `..` never reach a URL.
 * Time that matters is a FakeClock the test moves (clocked-daemon.ts, or given to a Runner):
 * no test sleeps for what it checks.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { Agent, type Dispatcher } from 'undici';
import { withoutSecret } from '../src/actions/provider.ts';
import { requestIdFor } from '../src/actions/request-id.ts';
import { isUsableActionId } from '../src/actions/status.ts';
import type { TokenProvider } from '../src/auth/tokens.ts';
import type { ResolvedConfig } from '../src/config/config.ts';
import { getJob, insertJob, markDeleted } from '../src/daemon/store/jobs.ts';
import { openDb, type Db } from '../src/daemon/store/open.ts';
import { getRun, insertRun, updateRun } from '../src/daemon/store/runs.ts';
import { runs, type JobRow, type NewJobRow, type RunRow } from '../src/daemon/store/schema.ts';
import { WriteBehind } from '../src/daemon/store/write-behind.ts';
import { JobService } from '../src/daemon/jobs/job-service.ts';
import { silentLogger, type Logger } from '../src/log/logger.ts';
import { systemClock, type Clock } from '../src/core/clock.ts';
import { Runner } from '../src/daemon/runner.ts';
import { FakeClock } from './support/clock.ts';
import { requestsSettled } from './support/agent-idle.ts';
import { clockedDaemon, waitFor, type ClockedDaemon } from './support/clocked-daemon.ts';
import { tempHome, TEST_TOKEN_RULES, testConfig } from './support/env.ts';
import { startFakeProvider, type FakeProvider, type RecordedRequest } from './support/provider.ts';

const T0 = Date.parse('2026-03-02T08:00:00Z');
const DAY_MS = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();
/** An action that stays ACTIVE until cancelled. */
const NEVER_ENDS = { kind: 'accept', httpStatus: 202, activePolls: Number.POSITIVE_INFINITY, final: 'SUCCEEDED' } as const;

// ---------------------------------------------------------------------------------------
// Helpers

function runRows(h: ClockedDaemon, jobId: string): RunRow[] {
  return h.daemon.db
    .select()
    .from(runs)
    .all()
    .filter((r) => r.jobId === jobId);
}

function openRunCount(h: ClockedDaemon, jobId: string): number {
  return runRows(h, jobId).filter((r) => r.completedAtMs === null).length;
}

/** Let real I/O (HTTP answers, queued writes) happen while the fake clock stands still. */
function settle(ms = 30): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Move the fake clock by `totalMs` in `steps` steps, with real I/O in between. */
async function advanceIn(clock: FakeClock, totalMs: number, steps: number): Promise<void> {
  for (let i = 0; i < steps; i++) {
    clock.advance(totalMs / steps);
    await settle(10);
  }
}

/** A job at slot 0 (T0 + 10 s) whose action the provider keeps ACTIVE; returns its id and run once a poll said ACTIVE. */
async function jobWithActiveRun(h: ClockedDaemon): Promise<{ jobId: string; run: RunRow }> {
  h.provider.defaultRunReply = NEVER_ENDS;
  const jobId = await h.submit({ '--interval': '3600', '--start': iso(T0 + 10_000) });
  h.clock.advance(10_000);
  await h.provider.waitForRuns(1);
  const run = await waitFor('the action to be ACTIVE', () => runRows(h, jobId).find((r) => r.state === 'active' && r.actionId));
  // One status poll too: the run is being followed.
  const polls = h.provider.statusRequests().length;
  for (let i = 0; i < 50 && h.provider.statusRequests().length === polls; i++) {
    h.clock.advance(100);
    await settle(10);
  }
  assert.ok(h.provider.statusRequests().length > polls, 'the run is polled');
  return { jobId, run };
}

function actionPaths(p: FakeProvider, actionId: string, verb: string, from = 0): RecordedRequest[] {
  return p.requests.slice(from).filter((r) => r.path === `/ap/${encodeURIComponent(actionId)}/${verb}`);
}

async function cli(h: ClockedDaemon, args: string[]): Promise<string> {
  const r = await h.cli(args);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

// ---------------------------------------------------------------------------------------
// Item 4: job delete

test('job delete with a run whose action stays ACTIVE: cancel then release, no status poll after the delete, nor after a restart', async (t) => {
  const h = await clockedDaemon(t, { startMs: T0 });
  const { jobId, run } = await jobWithActiveRun(h);
  const actionId = run.actionId!;
  const atDelete = h.provider.requests.length;

  await cli(h, ['job', 'delete', jobId]);
  await waitFor('the cancel and the release', () => h.provider.releaseRequests().length > 0);
  const after = h.provider.requests.slice(atDelete);
  assert.deepEqual(
    after.map((r) => `${r.method} ${r.path}`),
    [`POST /ap/${encodeURIComponent(actionId)}/cancel`, `POST /ap/${encodeURIComponent(actionId)}/release`],
    'a cancel, then a release, and nothing else',
  );
  const closed = await waitFor('the run closed', () => runRows(h, jobId).find((r) => r.id === run.id && r.completedAtMs !== null));
  assert.equal(closed.state, 'failed');
  assert.equal(closed.error?.code, 'JOB_DELETED');
  assert.equal(
    closed.error?.message,
    'the job was deleted while its action was ACTIVE; the provider answered the cancel request with HTTP 200 (action FAILED)',
  );
  assert.equal(closed.actionId, actionId, 'the action id stays on record');
  assert.equal(getJob(h.daemon.db, jobId)!.errorCount, 0, 'a run the user ended by deleting its job is not an error');

  // Long after, and across a restart: nothing more about this action.
  await advanceIn(h.clock, 30 * 60_000, 30);
  await h.restart();
  await advanceIn(h.clock, 30 * 60_000, 30);
  assert.equal(h.provider.requests.length, atDelete + 2, 'no request after the release');
  assert.equal(h.daemon.runner.inFlight, 0);
});

test('a deleted job whose run is still open at start-up (deleted by an older daemon): cancelled and released, never polled', async (t) => {
  const h = await clockedDaemon(t, { startMs: T0 });
  const { jobId, run } = await jobWithActiveRun(h);
  await h.daemon.stop();
  // What `job delete` left behind before this fix: the job deleted, its run still open.
  const db = openDb(h.paths.dbFile);
  markDeleted(db, jobId, h.clock.now());
  db.$client.close();
  const atRestart = h.provider.requests.length;

  await h.restart();
  await waitFor('the release', () => actionPaths(h.provider, run.actionId!, 'release', atRestart).length === 1);
  await advanceIn(h.clock, 30 * 60_000, 30);
  assert.deepEqual(
    h.provider.requests.slice(atRestart).map((r) => r.path.split('/').at(-1)),
    ['cancel', 'release'],
    'no status poll: the run of a deleted job is only closed',
  );
  const closed = runRows(h, jobId)[0]!;
  assert.equal(closed.error?.code, 'JOB_DELETED');
  assert.equal(closed.completedAtMs !== null, true);
});

test('job delete while the submission is being retried: no further request, the run is closed as never accepted', async (t) => {
  const h = await clockedDaemon(t, { startMs: T0 });
  h.provider.defaultRunReply = { kind: 'raw', httpStatus: 503, body: { code: 'ServiceUnavailable' } };
  const jobId = await h.submit({ '--interval': '3600', '--start': iso(T0 + 10_000) });
  h.clock.advance(10_000);
  await h.provider.waitForRuns(1);
  await waitFor('the retry scheduled', () => runRows(h, jobId)[0]?.error?.code === 'ACTION_HTTP');
  const sent = h.provider.requests.length;

  await cli(h, ['job', 'delete', jobId]);
  await advanceIn(h.clock, 10 * 60_000, 20); // the retry window is 30 min: before the fix, retries went on
  assert.equal(h.provider.requests.length, sent, 'nothing sent after the delete: no retry, no cancel');
  const closed = await waitFor('the run closed', () => runRows(h, jobId).find((r) => r.completedAtMs !== null));
  assert.equal(closed.error?.code, 'JOB_DELETED');
  assert.equal(closed.error?.message, 'the job was deleted before the provider accepted this run; nothing was cancelled');
  assert.equal(getJob(h.daemon.db, jobId)!.errorCount, 0);
});

// ---------------------------------------------------------------------------------------
// Item 4: lifetime of a run

test('pause keeps following a run in flight; past runLifetimeDays it is abandoned (RUN_ABANDONED), released, never polled again', async (t) => {
  const h = await clockedDaemon(t, { startMs: T0 });
  const { jobId, run } = await jobWithActiveRun(h);
  await cli(h, ['job', 'pause', jobId]);
  const beforePause = h.provider.statusRequests().length;
  await advanceIn(h.clock, 2_000, 20);
  assert.ok(h.provider.statusRequests().length > beforePause, "a paused job's run in flight is still followed");

  // The action is still ACTIVE 30 days on (a suspended laptop, a stuck transfer).
  h.clock.jump(30 * DAY_MS + 60_000);
  h.clock.advance(200); // the poll loop wakes
  const closed = await waitFor('the run abandoned', () => runRows(h, jobId).find((r) => r.completedAtMs !== null));
  assert.equal(closed.state, 'failed');
  assert.deepEqual(closed.error, { code: 'RUN_ABANDONED', message: 'still ACTIVE after 30 days; no longer followed; see the provider for its outcome' });
  await waitFor('the release', () => actionPaths(h.provider, run.actionId!, 'release').length === 1);
  assert.equal(h.provider.cancelRequests().length, 0, 'an abandoned action is not cancelled: it may still be doing the work');
  assert.equal(getJob(h.daemon.db, jobId)!.errorCount, 1, 'an outcome never learned counts as an error');
  const polls = h.provider.statusRequests().length;
  await advanceIn(h.clock, 30 * 60_000, 30);
  assert.equal(h.provider.statusRequests().length, polls, 'no poll after it was abandoned');
});

test('at start-up, a run open for longer than runLifetimeDays is abandoned without a poll', async (t) => {
  const h = await clockedDaemon(t, { startMs: T0 });
  const { jobId, run } = await jobWithActiveRun(h);
  await cli(h, ['job', 'pause', jobId]); // no catch-up run after the jump
  await h.daemon.stop();
  h.clock.jump(31 * DAY_MS);
  const atRestart = h.provider.requests.length;
  await h.restart();
  await waitFor('the release', () => actionPaths(h.provider, run.actionId!, 'release', atRestart).length === 1);
  await advanceIn(h.clock, 10 * 60_000, 20);
  assert.deepEqual(
    h.provider.requests.slice(atRestart).map((r) => r.path.split('/').at(-1)),
    ['release'],
  );
  assert.equal(runRows(h, jobId)[0]!.error?.code, 'RUN_ABANDONED');
});

// ---------------------------------------------------------------------------------------
// Item 4: the cap of runs in flight with --overlap allow

test('--overlap allow at 1 s with actions that never end: never more than maxRunsInFlightPerJob in flight; job run refuses at the cap unless --force', async (t) => {
  const h = await clockedDaemon(t, { startMs: T0 });
  h.provider.defaultRunReply = NEVER_ENDS;
  const jobId = await h.submit({ '--interval': '1', '--start': iso(T0 + 1_000), '--overlap': 'allow' });
  let most = 0;
  for (let s = 0; s < 25; s++) {
    h.clock.advance(1_000);
    await settle(15);
    most = Math.max(most, openRunCount(h, jobId), h.daemon.runner.inFlight);
  }
  assert.equal(most, 10, 'the default cap: 10 runs in flight at most');
  const job = getJob(h.daemon.db, jobId)!;
  assert.equal(job.runCount, 10);
  assert.equal(job.overlapSkippedSlots, 15, 'slots at the cap are skipped as the overlap rule skips them');
  assert.equal(job.nextSlotIndex, 25, 'the grid is unchanged');
  await waitFor('10 actions started', () => h.provider.actions.size === 10);

  const refused = await h.cli(['job', 'run', jobId]);
  assert.equal(refused.code, 1);
  assert.match(
    refused.stderr,
    new RegExp(`^globus-timer: job ${jobId} already has 10 runs in progress, the most a job runs at once .*globus-timer job run ${jobId} --force$`, 'm'),
  );
  assert.equal(openRunCount(h, jobId), 10, 'nothing fired');
  await cli(h, ['job', 'run', jobId, '--force']);
  await h.provider.waitForRuns(11);
  assert.equal(openRunCount(h, jobId), 11, '--force fires one more');
});

test('the in-flight cap is a config key with an env override', async () => {
  const { DEFAULT_CONFIG, resolveConfig } = await import('../src/config/config.ts');
  assert.equal(DEFAULT_CONFIG.maxRunsInFlightPerJob, 10);
  assert.equal(DEFAULT_CONFIG.runLifetimeDays, 30);
  const c = resolveConfig({ GLOBUS_TIMER_MAX_RUNS_IN_FLIGHT_PER_JOB: '3', GLOBUS_TIMER_RUN_LIFETIME_DAYS: '7' });
  assert.equal(c.maxRunsInFlightPerJob, 3);
  assert.equal(c.runLifetimeDays, 7);
});

// ---------------------------------------------------------------------------------------
// Runner harness (real clock): for the spread of resumed polls, redaction and action ids

interface RunnerHarness {
  db: Db;
  dbFile: string;
  provider: FakeProvider;
  runner(over?: { config?: Partial<ResolvedConfig>; tokens?: TokenProvider; log?: Logger; clock?: Clock; agent?: Agent }): Runner;
  job(over?: Partial<NewJobRow>): JobRow;
  run(job: JobRow, slotAtMs?: number): RunRow;
}

async function runnerHarness(t: TestContext): Promise<RunnerHarness> {
  const runners: Runner[] = [];
  const agents: Agent[] = [];
  let db: Db | undefined;
  let provider: FakeProvider | undefined;
  // Registered before tempHome() so that it runs before the home directory is removed.
  t.after(async () => {
    for (const r of runners) await r.stop(0);
    await provider?.close();
    for (const a of agents) await a.destroy();
    db?.$client.close();
  });
  const { paths } = tempHome(t);
  db = openDb(paths.dbFile);
  provider = await startFakeProvider();
  const opened = db;
  const p = provider;
  let slot = Date.now() - 60_000;
  return {
    db: opened,
    dbFile: paths.dbFile,
    provider: p,
    runner({ config = {}, tokens, log = silentLogger(), clock = systemClock, agent = new Agent() } = {}) {
      agents.push(agent);
      const r = new Runner({
        db: opened,
        writes: new WriteBehind(opened, log),
        clock,
        log,
        config: testConfig(config),
        dispatcher: agent,
        tokens: tokens ?? { getToken: async () => null },
        tokenRules: TEST_TOKEN_RULES,
      });
      runners.push(r);
      return r;
    },
    job(over = {}) {
      const now = Date.now();
      return insertJob(opened, {
        id: randomUUID(),
        name: 'job',
        startAtMs: now,
        intervalSeconds: 3600,
        callbackUrl: p.runUrl,
        callbackBody: { body: { n: 1 } },
        status: 'loaded',
        overlap: 'allow',
        submittedAtMs: now,
        nextSlotIndex: 1,
        nextRunAtMs: now + 3_600_000,
        updatedAtMs: now,
        ...over,
      });
    },
    run(job, slotAtMs = (slot += 1)) {
      const now = Date.now();
      const row = insertRun(opened, { jobId: job.id, slotAtMs, requestId: requestIdFor(job.id, slotAtMs), firedAtMs: now, retryUntilMs: now + 60_000 });
      assert.ok(row);
      return row;
    },
  };
}

function waitDone(db: Db, runId: number): Promise<RunRow> {
  return waitFor(`run ${runId} to complete`, () => {
    const run = getRun(db, runId);
    return run && run.completedAtMs !== null ? run : null;
  });
}

// ---------------------------------------------------------------------------------------
// Item 4: polls resumed after a restart are spread

test('a restart with many ACTIVE runs spreads their first status polls over a window instead of sending them all at once', async (t) => {
  const h = await runnerHarness(t);
  h.provider.defaultRunReply = NEVER_ENDS;
  const job = h.job();
  const count = 100;
  const before = h.runner({ config: { pollInitialMs: 600_000 } }); // accepts them, never polls in this test
  for (let i = 0; i < count; i++) before.track(h.run(job).id);
  await waitFor(
    'all actions ACTIVE',
    () =>
      h.db
        .select()
        .from(runs)
        .all()
        .filter((r) => r.state === 'active').length === count,
  );
  await before.stop(0);
  assert.equal(h.provider.statusRequests().length, 0);

  // Restarted on a fake clock, with an Agent that notes when (on that clock) each request
  // leaves: the spread is measured exactly, whatever the HTTP latency of a loaded machine.
  // 100 runs × 20 ms = 2 s, capped at pollMaxMs: the first polls spread over 1 s after pollInitialMs.
  const clock = new FakeClock(Date.now());
  const startMs = clock.now();
  const firstPollAtMs = new Map<string, number>();
  class StampingAgent extends Agent {
    override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
      if (opts.path.endsWith('/status') && !firstPollAtMs.has(opts.path)) firstPollAtMs.set(opts.path, clock.now() - startMs);
      return super.dispatch(opts, handler);
    }
  }
  const after = h.runner({ clock, agent: new StampingAgent(), config: { pollInitialMs: 20, pollMaxMs: 1_000 } });
  assert.equal(after.resumeOpenRuns(), count);
  for (let step = 0; step < 150 && firstPollAtMs.size < count; step++) {
    clock.advance(10);
    await new Promise((resolve) => setImmediate(resolve));
  }
  await waitFor('the provider polled for every action', () => new Set(h.provider.statusRequests().map((r) => r.path)).size === count);
  const times = [...firstPollAtMs.values()].sort((a, b) => a - b);
  // Before the fix: every first poll at pollInitialMs (20 ms), all at once.
  assert.ok(times.at(-1)! - times[0]! >= 950, `first polls spread over ${times.at(-1)! - times[0]!} ms: ${times.join(',')}`);
  assert.ok(times[0]! >= 20 && times.at(-1)! <= 1_030, `all within pollInitialMs + the window: ${times.join(',')}`);
  const perTenth = [...Array(10).keys()].map((tenth) => times.filter((ms) => Math.min(9, Math.floor((ms - 20) / 100)) === tenth).length);
  assert.ok(Math.max(...perTenth) <= 12, `evenly spread, first polls per 100 ms: ${perTenth.join(',')}`);
});

// ---------------------------------------------------------------------------------------
// Item 5: a token echoed in JSON escapes

const SECRET = 'S3cr3t-T0ken-4f1c9a7e';
/** Every character as a `\uXXXX` escape: the raw answer never contains the token. */
const escapeAll = (s: string) => [...s].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
/** Only the first character escaped. */
const escapeFirst = (s: string) => `${escapeAll(s[0]!)}${s.slice(1)}`;

/** What would show the token, however it is spelled: in clear, escaped (any number of backslashes), or its unescaped tail. */
function assertNoSecret(what: string, text: string): void {
  assert.equal(text.includes(SECRET), false, `${what} holds the token`);
  assert.equal(text.includes(SECRET.slice(1)), false, `${what} holds the token's tail`);
  assert.equal(/u0053\\*u0033/i.test(text), false, `${what} holds the token in escapes`);
}

test('a provider that echoes the bearer token in JSON escapes gets it into neither the database file, the log, the job document nor history', async (t) => {
  const h = await runnerHarness(t);
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
  // The provider quotes the Authorization header it got, escaped, as a value and as a key.
  h.provider.rewriteBody = (text, req) => {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? 'none';
    return text.replaceAll('@ALL@', escapeAll(token)).replaceAll('@FIRST@', escapeFirst(token));
  };
  h.provider.runReplies = [
    { kind: 'raw', httpStatus: 503, body: { code: 'ServiceUnavailable', description: 'busy; you sent @ALL@' } },
    {
      kind: 'accept',
      httpStatus: 202,
      activePolls: 1,
      final: 'SUCCEEDED',
      document: { details: { echo: '@ALL@', '@FIRST@': 'a key', list: ['x @FIRST@ y'] } },
    },
    { kind: 'raw', httpStatus: 400, body: { code: 'BadRequest', description: 'rejected token @FIRST@', echo: { authorization: 'Bearer @ALL@' } } },
  ];
  const job = h.job({ scope: 'https://auth.globus.org/scopes/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0/action_all' });
  const runner = h.runner({ tokens: { getToken: async () => SECRET }, log, config: { retryInitialMs: 5 } });
  const accepted = h.run(job);
  runner.track(accepted.id);
  const ok = await waitDone(h.db, accepted.id);
  const refused = h.run(job);
  runner.track(refused.id);
  const failed = await waitDone(h.db, refused.id);
  await waitFor('the release', () => h.provider.releaseRequests().length === 1);
  await waitFor('the driver done', () => runner.inFlight === 0);

  assert.equal(h.provider.runRequests()[0]?.headers.authorization, `Bearer ${SECRET}`, 'the token was sent');
  assert.ok(h.provider.statusRequests().length >= 1, 'the echo came in status answers too');
  assert.equal(ok.state, 'succeeded');
  assert.deepEqual(ok.actionDocument?.details, { echo: '[REDACTED]', '[REDACTED]': 'a key', list: ['x [REDACTED] y'] });
  assert.equal(failed.state, 'failed');
  assert.equal(failed.error?.message, 'provider answered HTTP 400: BadRequest: rejected token [REDACTED]');
  assert.deepEqual(failed.error?.providerError, { code: 'BadRequest', description: 'rejected token [REDACTED]', echo: { authorization: 'Bearer [REDACTED]' } });

  const service = new JobService({ db: h.db, clock: systemClock, config: testConfig(), onScheduleChange: () => {} });
  const doc = JSON.stringify(service.get(job.id));
  assert.match(doc, /\[REDACTED\]/, 'the echo is in the job document, redacted');
  assertNoSecret('the job document (job status -v)', doc);
  assertNoSecret('job history', JSON.stringify(service.history({ job_id: job.id })));
  const logText = lines.join('');
  assert.match(logText, /busy; you sent \[REDACTED\]/, 'the retried 503 was logged, redacted');
  assertNoSecret('the log', logText);
  h.db.$client.pragma('wal_checkpoint(TRUNCATE)');
  for (const file of [h.dbFile, `${h.dbFile}-wal`]) {
    if (fs.existsSync(file)) assertNoSecret(file, fs.readFileSync(file).toString('latin1'));
  }
});

test('withoutSecret: strings and keys at any depth, text kept consistent, answers without the token untouched', () => {
  const response = (text: string) => {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { kind: 'response' as const, httpStatus: 400, json, text, retryAfterMs: null };
  };
  const plain = response('{"a":"no secret here \\u00e9"}');
  assert.equal(withoutSecret(plain, SECRET), plain, 'nothing to cut: the same object');

  const escaped = withoutSecret(response(`{"${escapeFirst(SECRET)}":[{"b":"x${escapeAll(SECRET)}y"}],"__proto__":"${SECRET}"}`), SECRET);
  assert.deepEqual(escaped.json, JSON.parse('{"[REDACTED]":[{"b":"x[REDACTED]y"}],"__proto__":"[REDACTED]"}'));
  assert.equal(escaped.text, JSON.stringify(escaped.json), 'the kept text is the redacted value');
  assertNoSecret('the kept text', escaped.text);

  // Not JSON (or cut off): the text, with its escapes decoded and the token cut out.
  const broken = withoutSecret(response(`{"token": "${escapeAll(SECRET)}", "more": `), SECRET);
  assert.equal(broken.json, undefined);
  assert.equal(broken.text, '{"token": "[REDACTED]", "more": ');
  const inClear = withoutSecret(response(`token=${SECRET}; again ${escapeFirst(SECRET)}`), SECRET);
  assert.equal(inClear.text, 'token=[REDACTED]; again [REDACTED]');
});

// ---------------------------------------------------------------------------------------
// Item 8: action ids that would move the URL

/** Every request that is not about an action under /ap/<id>/ nor a run request. */
function strayRequests(p: FakeProvider): string[] {
  return p.requests.map((r) => `${r.method} ${r.path}`).filter((line) => !/^(POST \/ap\/run|(GET|POST) \/ap\/[^/]+\/(status|release|cancel))$/.test(line));
}

test('action ids "", "." and ".." are invalid answers: never used in a URL (before the fix: GET /status, GET /ap/status, POST /release)', async (t) => {
  const h = await runnerHarness(t);
  const agent = new Agent();
  const runner = h.runner({ agent });
  const job = h.job();
  const track = async (): Promise<RunRow> => {
    const run = h.run(job);
    runner.track(run.id);
    return waitDone(h.db, run.id);
  };
  const ids = ['..', '.', ''];
  const accepted: RunRow[] = [];
  for (const id of ids) {
    h.provider.runReplies.push({ kind: 'raw', httpStatus: 202, body: { action_id: id, status: 'ACTIVE', display_status: 'ACTIVE', details: null } });
    accepted.push(await track());
  }
  // A terminal answer with such an id is invalid too: its release would go astray.
  h.provider.runReplies.push({ kind: 'raw', httpStatus: 200, body: { action_id: '..', status: 'SUCCEEDED' } });
  const terminal = await track();
  // A status poll that answers with `..`: the run fails, and no release goes to /release.
  h.provider.runReplies.push({ kind: 'accept', httpStatus: 202, activePolls: 5 });
  h.provider.statusReplies.push({ kind: 'raw', httpStatus: 200, body: { action_id: '..', status: 'SUCCEEDED' } });
  const polled = await track();
  await waitFor('the drivers done', () => runner.inFlight === 0);
  await requestsSettled(agent); // releases are sent off the drivers

  assert.deepEqual(strayRequests(h.provider), [], 'no request outside /ap/run and /ap/<id>/…');
  accepted.forEach((done, i) => {
    assert.equal(done.state, 'failed');
    assert.equal(done.error?.code, 'ACTION_INVALID_RESPONSE');
    assert.equal(
      done.error?.message,
      `provider answered HTTP 202 with action_id ${JSON.stringify(ids[i])}, which cannot name an action (it would move requests to another path)`,
    );
    assert.equal(done.actionId, null);
  });
  assert.equal(terminal.error?.code, 'ACTION_INVALID_RESPONSE');
  assert.equal(polled.error?.code, 'ACTION_INVALID_RESPONSE');
  assert.match(polled.error?.message ?? '', /^status poll: provider answered HTTP 200 with action_id "\.\."/);
});

test('a run stored with action id ".." (by an older daemon) is not polled after a restart: it fails, nothing is sent', async (t) => {
  const h = await runnerHarness(t);
  const job = h.job();
  const run = h.run(job);
  updateRun(h.db, run.id, { state: 'active', attempts: 1, httpStatus: 202, actionId: '..', actionStatus: 'ACTIVE' });
  const agent = new Agent();
  const runner = h.runner({ agent });
  runner.resumeOpenRuns();
  const done = await waitDone(h.db, run.id);
  await waitFor('the driver done', () => runner.inFlight === 0);
  await requestsSettled(agent);
  assert.deepEqual(
    h.provider.requests.map((r) => r.path),
    [],
    'nothing sent: not GET /status',
  );
  assert.equal(done.error?.code, 'ACTION_INVALID_RESPONSE');
  assert.equal(done.error?.message, 'no usable action id ("..") to follow the action with');
});

test('isUsableActionId: only "", "." and ".." move a percent-encoded path segment', () => {
  for (const id of ['', '.', '..']) assert.equal(isUsableActionId(id), false, JSON.stringify(id));
  for (const id of ['a', '...', '%2e%2e', '.%2e', '..\\', '\\..', ' .. ', 'a/../..', '..\n', '7c1d0e9a-4b7b-11ee-be56-0242ac120002']) {
    assert.equal(isUsableActionId(id), true, JSON.stringify(id));
    const url = new URL(`http://h/ap/${encodeURIComponent(id)}/status`);
    assert.match(url.pathname, /^\/ap\/[^/]+\/status$/, `${JSON.stringify(id)} stays one segment under /ap/`);
  }
  assert.equal(isUsableActionId(null), false);
  assert.equal(isUsableActionId(7), false);
});
