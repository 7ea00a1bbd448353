/**
 * The run driver (src/daemon/runner.ts) against a real HTTP Action Provider on
 * 127.0.0.1 (test/support/provider.ts): submission, polling, release, retries with the same
 * request_id, auth handling, bad provider answers, restart recovery, shutdown and isolation.
 * SPEC §3.
 */
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { Agent, request } from 'undici';
import { createProviderAgent } from '../src/actions/provider.ts';
import { requestIdFor } from '../src/actions/request-id.ts';
import type { ResolvedConfig } from '../src/config/config.ts';
import { getJob, insertJob } from '../src/daemon/store/jobs.ts';
import { openDb, type Db } from '../src/daemon/store/open.ts';
import { getRun, insertRun, updateRun } from '../src/daemon/store/runs.ts';
import type { JobRow, NewJobRow, RunRow } from '../src/daemon/store/schema.ts';
import { silentLogger } from '../src/log/logger.ts';
import { systemClock } from '../src/core/clock.ts';
import { NO_TOKENS, type TokenProvider } from '../src/auth/tokens.ts';
import { AuthRequiredError, AuthUnavailableError, TokenCacheError } from '../src/core/errors.ts';
import { Runner } from '../src/daemon/runner.ts';
import { WriteBehind } from '../src/daemon/store/write-behind.ts';
import { requestsSettled } from './support/agent-idle.ts';
import { tempHome, TEST_TOKEN_RULES, testConfig } from './support/env.ts';
import { readFixture, recordedStatusDocument, startFakeProvider, type FakeProvider, type RecordedRequest, type Reply as RunReply } from './support/provider.ts';

// ---------------------------------------------------------------------------------------
// Harness

interface Harness {
  db: Db;
  /** A fake provider, closed after the test. */
  provider(): Promise<FakeProvider>;
  /** A runner with its own undici Agent, stopped after the test. */
  runner(opts?: { config?: Partial<ResolvedConfig>; tokens?: TokenProvider; agent?: Agent }): Runner;
  job(runUrl: string, over?: Partial<NewJobRow>): JobRow;
  run(job: JobRow, opts?: { slotAtMs?: number; retryWindowMs?: number }): RunRow;
}

/**
 * Everything one test needs, torn down in order after it: runners stopped (requests cut
 * off), providers closed, agents closed, database closed, temp home removed.
 */
function harness(t: TestContext): Harness {
  const runners: Runner[] = [];
  const providers: FakeProvider[] = [];
  const agents: Agent[] = [];
  let db: Db | undefined;
  // Registered before tempHome() so it runs before the home directory is removed.
  t.after(async () => {
    for (const r of runners) await r.stop(0);
    for (const p of providers) await p.close();
    for (const a of agents) await a.destroy();
    db?.$client.close();
  });
  const { paths } = tempHome(t);
  const opened = openDb(paths.dbFile);
  db = opened;
  let slot = Date.UTC(2026, 0, 1);
  return {
    db: opened,
    async provider() {
      const p = await startFakeProvider();
      providers.push(p);
      return p;
    },
    runner({ config = {}, tokens = NO_TOKENS, agent } = {}) {
      const dispatcher = agent ?? new Agent();
      agents.push(dispatcher);
      const r = new Runner({
        db: opened,
        writes: new WriteBehind(opened, silentLogger()),
        clock: systemClock,
        log: silentLogger(),
        config: testConfig(config),
        dispatcher,
        tokens,
        tokenRules: TEST_TOKEN_RULES,
      });
      runners.push(r);
      return r;
    },
    job(runUrl, over = {}) {
      const now = Date.now();
      return insertJob(opened, {
        id: randomUUID(),
        name: 'nightly sync',
        startAtMs: now,
        intervalSeconds: 3600,
        callbackUrl: runUrl,
        callbackBody: { body: { source: 'ep-a', destination: 'ep-b', items: [{ path: '/x' }] } },
        status: 'loaded',
        submittedAtMs: now,
        nextSlotIndex: 1,
        nextRunAtMs: now + 3_600_000,
        updatedAtMs: now,
        ...over,
      });
    },
    run(job, { slotAtMs = (slot += 1000), retryWindowMs = 10_000 } = {}) {
      const now = Date.now();
      const row = insertRun(opened, {
        jobId: job.id,
        slotAtMs,
        requestId: requestIdFor(job.id, slotAtMs),
        firedAtMs: now,
        retryUntilMs: now + retryWindowMs,
      });
      assert.ok(row, 'run inserted');
      return row;
    },
  };
}

/** Poll `check` every 5 ms until it returns a truthy value; fail after `timeoutMs`. */
async function waitFor<T>(what: string, check: () => T | undefined | null | false, timeoutMs = 4_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function waitDone(db: Db, runId: number, timeoutMs?: number): Promise<RunRow> {
  return waitFor(
    `run ${runId} to complete`,
    () => {
      const run = getRun(db, runId);
      return run && run.completedAtMs !== null ? run : null;
    },
    timeoutMs,
  );
}

function mustGetRun(db: Db, runId: number): RunRow {
  const run = getRun(db, runId);
  assert.ok(run, `run ${runId} exists`);
  return run;
}

function mustGetJob(db: Db, jobId: string): JobRow {
  const job = getJob(db, jobId);
  assert.ok(job, `job ${jobId} exists`);
  return job;
}

/** Every run request is `{request_id, ...callback_body}` with the run's id, and schema-valid. */
function assertRunRequests(provider: FakeProvider, job: JobRow, run: RunRow, expectedCount: number): RecordedRequest[] {
  const sent = provider.runRequests();
  assert.equal(sent.length, expectedCount, 'number of run requests');
  for (const req of sent) {
    assert.deepEqual(req.body, { request_id: run.requestId, ...job.callbackBody });
    assert.deepEqual(req.schemaErrors, [], 'run request passes action_request.schema.json');
    assert.equal(req.headers['content-type'], 'application/json');
  }
  return sent;
}

class FakeTokens implements TokenProvider {
  readonly calls: { scope: string; rejected: string | null }[] = [];
  #generation = 0;
  async getToken(scope: string, { rejected }: { rejected: string | null }): Promise<string> {
    this.calls.push({ scope, rejected });
    if (rejected) this.#generation += 1;
    return `tok-${this.#generation}`;
  }
}

/** A provider's own scope: the token rules let it go to the loopback provider (a Globus service's would not). */
const SCOPE = 'https://auth.globus.org/scopes/000a11ce-0000-1000-8000-0000000000aa/action_all';

// ---------------------------------------------------------------------------------------
// Success paths

test('202 ACTIVE is polled (2 ACTIVE polls) to SUCCEEDED, then released', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  p.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 2, final: 'SUCCEEDED' };
  const job = h.job(p.runUrl, { callbackBody: { body: { a: 1 }, label: 'nightly sync run' } });
  const run = h.run(job);
  const runner = h.runner();
  runner.track(run.id);
  runner.track(run.id); // idempotent: still one driver, one request
  assert.equal(runner.inFlight, 1);
  const done = await waitDone(h.db, run.id);

  assert.equal(done.state, 'succeeded');
  assert.equal(done.httpStatus, 202);
  assert.equal(done.attempts, 1);
  assert.equal(done.actionStatus, 'SUCCEEDED');
  assert.equal(done.error, null);
  const [action] = [...p.actions.values()];
  assert.ok(action);
  assert.equal(p.actions.size, 1);
  assert.equal(done.actionId, action.actionId);
  assert.equal(action.requestId, run.requestId);
  assert.equal(done.actionDocument?.status, 'SUCCEEDED');
  assert.deepEqual(done.actionDocument?.details, { files_transferred: 1 });
  assert.ok(done.completedAtMs !== null && done.completedAtMs >= run.firedAtMs);

  const [sent] = assertRunRequests(p, job, run, 1);
  assert.equal(sent?.headers.authorization, undefined, 'no scope, no Authorization header');
  const polls = p.statusRequests();
  assert.equal(polls.length, 3, 'ACTIVE, ACTIVE, SUCCEEDED');
  for (const poll of polls) {
    assert.equal(poll.method, 'GET');
    assert.equal(poll.path, `/ap/${encodeURIComponent(action.actionId)}/status`);
  }
  // Polls back off: never closer together than pollInitialMs (20 ms).
  for (let i = 1; i < polls.length; i++) assert.ok(polls[i]!.receivedAtMs - polls[i - 1]!.receivedAtMs >= 18);

  const releases = await waitFor('release', () => (p.releaseRequests().length ? p.releaseRequests() : null));
  assert.equal(releases.length, 1);
  assert.equal(releases[0]!.method, 'POST');
  assert.equal(releases[0]!.path, `/ap/${encodeURIComponent(action.actionId)}/release`);
  await waitFor('action released', () => action.released);

  const after = mustGetJob(h.db, job.id);
  assert.equal(after.errorCount, 0);
  assert.equal(after.status, 'loaded');
  await waitFor('driver to finish', () => runner.inFlight === 0);
});

test('200 with a synchronous SUCCEEDED completes without polling', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  p.runReplies = [{ kind: 'accept', httpStatus: 200, activePolls: 0, final: 'SUCCEEDED' }];
  const job = h.job(p.runUrl);
  const run = h.run(job);
  h.runner().track(run.id);
  const done = await waitDone(h.db, run.id);

  assert.equal(done.state, 'succeeded');
  assert.equal(done.httpStatus, 200);
  assert.equal(done.actionStatus, 'SUCCEEDED');
  assertRunRequests(p, job, run, 1);
  await waitFor('release', () => p.releaseRequests().length === 1);
  assert.equal(p.statusRequests().length, 0, 'a terminal answer is never polled');
});

test('a FAILED action fails the run and counts in the job errorCount', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  p.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 1, final: 'FAILED' };
  const job = h.job(p.runUrl);
  const first = h.run(job);
  const second = h.run(job);
  const runner = h.runner();
  runner.track(first.id);
  runner.track(second.id);
  const [a, b] = await Promise.all([waitDone(h.db, first.id), waitDone(h.db, second.id)]);

  for (const done of [a, b]) {
    assert.equal(done.state, 'failed');
    assert.equal(done.actionStatus, 'FAILED');
    assert.equal(done.httpStatus, 202);
    assert.equal(done.error, null, 'the action failed; the call did not');
  }
  assert.notEqual(a.requestId, b.requestId, 'each slot has its own request_id');
  assert.equal(p.actions.size, 2);
  assert.equal(mustGetJob(h.db, job.id).errorCount, 2);
  assert.equal(mustGetJob(h.db, job.id).status, 'loaded', 'a failed action does not stop the job');
  await waitFor('releases', () => p.releaseRequests().length === 2);
});

test('INACTIVE is polled like ACTIVE', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  p.runReplies = [{ kind: 'raw', httpStatus: 202, body: { action_id: 'act-inactive', status: 'INACTIVE', details: {} } }];
  p.statusReplies = [
    { kind: 'raw', httpStatus: 200, body: { action_id: 'act-inactive', status: 'INACTIVE', details: { why: 'consent' } } },
    { kind: 'raw', httpStatus: 200, body: { action_id: 'act-inactive', status: 'SUCCEEDED', details: { done: true } } },
  ];
  const job = h.job(p.runUrl);
  const run = h.run(job);
  h.runner().track(run.id);
  const done = await waitDone(h.db, run.id);

  assert.equal(done.state, 'succeeded');
  assert.equal(done.actionId, 'act-inactive');
  assert.deepEqual(done.actionDocument, { action_id: 'act-inactive', status: 'SUCCEEDED', details: { done: true } });
  assert.equal(p.statusRequests().length, 2);
  for (const r of p.statusRequests()) assert.equal(r.path, '/ap/act-inactive/status');
});

test('the recorded real status document (label: null, extra keys) is accepted and stored as sent', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  const recorded = recordedStatusDocument();
  assert.equal(recorded.label, null);
  // The document really bends the schema, so this test exercises the lenient path.
  const ajv = new Ajv({ strict: false, allErrors: true });
  (addFormats as unknown as (a: Ajv) => void)(ajv);
  const validateStatus = ajv.compile(readFixture<object>('action_status.schema.json'));
  assert.equal(validateStatus(recorded), false, 'recorded document violates action_status.schema.json');

  const actionId = recorded.action_id as string;
  const finalDoc = { ...structuredClone(recorded), status: 'SUCCEEDED', display_status: 'SUCCEEDED', unknown_extra: { x: 1 } };
  p.runReplies = [{ kind: 'raw', httpStatus: 202, body: recorded }];
  p.statusReplies = [{ kind: 'raw', httpStatus: 200, body: finalDoc }];
  const job = h.job(p.runUrl);
  const run = h.run(job);
  const agent = new Agent();
  h.runner({ agent }).track(run.id);
  const done = await waitDone(h.db, run.id);

  assert.equal(done.state, 'succeeded');
  assert.equal(done.httpStatus, 202);
  assert.equal(done.actionId, actionId);
  assert.deepEqual(done.actionDocument, finalDoc);
  assert.equal(p.statusRequests()[0]?.path, `/ap/${actionId}/status`);
  // The fake provider does not know this action: the release gets 404, which changes nothing.
  await waitFor('release', () => p.releaseRequests().length === 1);
  await requestsSettled(agent); // its answer is in, and whatever the runner made of it written
  assert.equal(mustGetRun(h.db, run.id).state, 'succeeded');
  assert.equal(mustGetJob(h.db, job.id).errorCount, 0);
});

// ---------------------------------------------------------------------------------------
// Permanent failures

for (const [httpStatus, body] of [
  [400, { code: 'BadRequest', description: 'body.items is required' }],
  [404, { code: 'NotFound', description: 'no such provider' }],
  [409, { code: 'Conflict', description: 'request_id reused with a different body' }],
  [422, 'unprocessable: plain text from a proxy'],
] as const) {
  test(`HTTP ${httpStatus} on submit fails the run at once and keeps the provider's error`, async (t) => {
    const h = harness(t);
    const p = await h.provider();
    p.runReplies = [{ kind: 'raw', httpStatus, body }];
    const job = h.job(p.runUrl);
    const run = h.run(job);
    h.runner().track(run.id);
    const done = await waitDone(h.db, run.id);

    assert.equal(done.state, 'failed');
    assert.equal(done.attempts, 1, 'not retried');
    assert.equal(done.httpStatus, httpStatus);
    assert.equal(done.error?.code, 'ACTION_HTTP');
    assert.equal(done.error?.httpStatus, httpStatus);
    assert.deepEqual(done.error?.providerError, body);
    if (typeof body === 'object') assert.match(done.error?.message ?? '', new RegExp(body.description));
    assert.equal(done.actionId, null);
    assertRunRequests(p, job, run, 1);
    const after = mustGetJob(h.db, job.id);
    assert.equal(after.errorCount, 1);
    assert.equal(after.status, 'loaded', 'a 4xx fails the run, not the job');
  });
}

test('a callback body the provider schema rejects gets the provider 400 with its description', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  const job = h.job(p.runUrl, { callbackBody: { body: { a: 1 }, not_a_run_request_key: true } });
  const run = h.run(job);
  h.runner().track(run.id);
  const done = await waitDone(h.db, run.id);

  const [sent] = p.runRequests();
  assert.ok(sent && sent.schemaErrors.length > 0, 'the fake provider saw a schema error');
  assert.deepEqual(sent.body, { request_id: run.requestId, body: { a: 1 }, not_a_run_request_key: true });
  assert.equal(done.state, 'failed');
  assert.equal(done.httpStatus, 400);
  assert.deepEqual(done.error?.providerError, { code: 'BadRequest', description: sent.schemaErrors.join('; ') });
});

for (const [name, reply, providerError] of [
  ['invalid JSON', { kind: 'raw', httpStatus: 202, body: '{"status": "ACT' }, '{"status": "ACT'],
  ['a 2xx JSON body without a status', { kind: 'raw', httpStatus: 200, body: { hello: 'world' } }, { hello: 'world' }],
  ['an unknown status', { kind: 'raw', httpStatus: 201, body: { action_id: 'a1', status: 'RUNNING' } }, { action_id: 'a1', status: 'RUNNING' }],
  ['an empty 202', { kind: 'raw', httpStatus: 202 }, null],
  // Parses, but too deep to store: kept as the start of its text instead.
  ['JSON nested 10 000 deep', { kind: 'raw', httpStatus: 202, body: '['.repeat(10_000) + ']'.repeat(10_000) }, '['.repeat(2_000)],
] as const) {
  test(`${name} fails the run with ACTION_INVALID_RESPONSE`, async (t) => {
    const h = harness(t);
    const p = await h.provider();
    p.runReplies = [reply];
    const job = h.job(p.runUrl);
    const run = h.run(job);
    h.runner().track(run.id);
    const done = await waitDone(h.db, run.id);

    assert.equal(done.state, 'failed');
    assert.equal(done.attempts, 1);
    assert.equal(done.error?.code, 'ACTION_INVALID_RESPONSE');
    assert.equal(done.error?.httpStatus, reply.httpStatus);
    assert.equal(done.httpStatus, reply.httpStatus);
    assert.deepEqual(done.error?.providerError, providerError);
    assert.equal(p.statusRequests().length, 0);
    assert.equal(mustGetJob(h.db, job.id).errorCount, 1);
  });
}

test('ACTIVE without an action_id cannot be followed and fails', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  p.runReplies = [{ kind: 'raw', httpStatus: 202, body: { status: 'ACTIVE', details: {} } }];
  const job = h.job(p.runUrl);
  const run = h.run(job);
  h.runner().track(run.id);
  const done = await waitDone(h.db, run.id);

  assert.equal(done.state, 'failed');
  assert.equal(done.error?.code, 'ACTION_INVALID_RESPONSE');
  assert.deepEqual(done.error?.providerError, { status: 'ACTIVE', details: {} });
  assert.equal(p.statusRequests().length, 0);
});

test('a 503 with an oversized body is still a 503: retried with the same request_id, then accepted', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  p.runReplies = [
    { kind: 'raw', httpStatus: 503, body: '<html>' + 'x'.repeat(10_000) + '</html>' },
    { kind: 'accept', httpStatus: 200, final: 'SUCCEEDED' },
  ];
  const job = h.job(p.runUrl);
  const run = h.run(job);
  h.runner({ config: { maxResponseBytes: 1_024, retryInitialMs: 10 } }).track(run.id);
  const done = await waitDone(h.db, run.id);

  assert.equal(done.state, 'succeeded');
  assert.equal(done.attempts, 2);
  assertRunRequests(p, job, run, 2);
});

test('an oversized response fails the run with ACTION_RESPONSE_TOO_LARGE', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  p.runReplies = [{ kind: 'raw', httpStatus: 202, body: { action_id: 'big', status: 'ACTIVE', details: { pad: 'x'.repeat(5_000) } } }];
  const job = h.job(p.runUrl);
  const run = h.run(job);
  h.runner({ config: { maxResponseBytes: 1_024 } }).track(run.id);
  const done = await waitDone(h.db, run.id);

  assert.equal(done.state, 'failed');
  assert.equal(done.attempts, 1, 'not retried');
  assert.equal(done.error?.code, 'ACTION_RESPONSE_TOO_LARGE');
  assert.match(done.error?.message ?? '', /1024 bytes/);
  assert.equal(done.actionId, null);
  assert.equal(done.actionDocument, null);
  assert.equal(mustGetJob(h.db, job.id).errorCount, 1);
});

test('a response just under maxResponseBytes is read normally', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  const body = { action_id: 'small', status: 'SUCCEEDED', details: { pad: '' } };
  body.details.pad = 'x'.repeat(1_024 - JSON.stringify(body).length);
  assert.equal(JSON.stringify(body).length, 1_024);
  p.runReplies = [{ kind: 'raw', httpStatus: 200, body }];
  const job = h.job(p.runUrl);
  const run = h.run(job);
  h.runner({ config: { maxResponseBytes: 1_024 } }).track(run.id);
  const done = await waitDone(h.db, run.id);
  assert.equal(done.state, 'succeeded');
  assert.deepEqual(done.actionDocument, body);
});

// ---------------------------------------------------------------------------------------
// Auth

for (const httpStatus of [401, 403] as const) {
  test(`${httpStatus} without a scope fails the run and makes the job inactive (globus_auth_requirements)`, async (t) => {
    const h = harness(t);
    const p = await h.provider();
    p.runReplies = [{ kind: 'raw', httpStatus, body: { code: httpStatus === 401 ? 'AuthenticationFailed' : 'Forbidden', description: 'no' } }];
    const job = h.job(p.runUrl, { scope: null });
    const run = h.run(job);
    const tokens = new FakeTokens();
    h.runner({ tokens }).track(run.id);
    const done = await waitDone(h.db, run.id);

    assert.equal(done.state, 'failed');
    assert.equal(done.attempts, 1, 'nothing to refresh, so no second try');
    assert.equal(done.httpStatus, httpStatus);
    assert.equal(done.error?.code, 'ACTION_AUTH');
    assert.equal(done.error?.httpStatus, httpStatus);
    assert.deepEqual(tokens.calls, [], 'no scope, no token asked for');
    assert.equal(p.runRequests()[0]?.headers.authorization, undefined);

    const after = mustGetJob(h.db, job.id);
    assert.equal(after.status, 'inactive');
    assert.equal(after.nextRunAtMs, null);
    assert.equal(after.errorCount, 1);
    assert.equal(after.inactiveReason?.cause, 'globus_auth_requirements');
    const detail = after.inactiveReason?.detail as { code: string; authorization_parameters: { required_scopes: string[] } };
    assert.equal(detail.code, httpStatus === 403 ? 'PermissionDenied' : 'AuthenticationFailed');
    assert.deepEqual(detail.authorization_parameters.required_scopes, []);
  });
}

test('with a scope, a 401 triggers exactly one forced token refresh and the retry succeeds', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  p.runReplies = [{ kind: 'raw', httpStatus: 401, body: { code: 'AuthenticationFailed' } }];
  p.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 1, final: 'SUCCEEDED' };
  const job = h.job(p.runUrl, { scope: SCOPE });
  const run = h.run(job);
  const tokens = new FakeTokens();
  h.runner({ tokens }).track(run.id);
  const done = await waitDone(h.db, run.id);

  assert.equal(done.state, 'succeeded');
  assert.equal(done.httpStatus, 202);
  assert.equal(done.attempts, 2);
  assert.equal(done.error, null);
  const sent = assertRunRequests(p, job, run, 2);
  assert.equal(sent[0]?.headers.authorization, 'Bearer tok-0');
  assert.equal(sent[1]?.headers.authorization, 'Bearer tok-1', 'the refreshed token is sent');
  assert.equal(tokens.calls.filter((c) => c.rejected).length, 1);
  assert.deepEqual(tokens.calls.slice(0, 2), [
    { scope: SCOPE, rejected: null },
    { scope: SCOPE, rejected: 'tok-0' },
  ]);
  assert.ok(tokens.calls.every((c) => c.scope === SCOPE));
  for (const poll of p.statusRequests()) assert.equal(poll.headers.authorization, 'Bearer tok-1');
  const release = await waitFor('release', () => p.releaseRequests()[0]);
  assert.equal(release.headers.authorization, 'Bearer tok-1');
  assert.equal(mustGetJob(h.db, job.id).status, 'loaded');
  assert.equal(mustGetJob(h.db, job.id).errorCount, 0);
});

/** One scoped run against a provider answering `replies` in turn, then `then`; driven to its end. */
async function scopedRun(t: TestContext, replies: RunReply[], then: RunReply) {
  const h = harness(t);
  const p = await h.provider();
  p.runReplies = replies;
  p.defaultRunReply = then;
  const job = h.job(p.runUrl, { scope: SCOPE });
  const run = h.run(job);
  const tokens = new FakeTokens();
  h.runner({ tokens }).track(run.id);
  const done = await waitDone(h.db, run.id);
  const sent = p.runRequests().map((r) => r.headers.authorization);
  return { h, job, tokens, done, sent };
}

const UNAUTHORIZED: RunReply = { kind: 'raw', httpStatus: 401, body: { code: 'AuthenticationFailed' } };
const ACCEPTED: RunReply = { kind: 'accept', httpStatus: 202, activePolls: 0, final: 'SUCCEEDED' };

test('with a scope, a 401 after a refreshed token got a transient answer is a new refusal: refreshed and retried, the job stays loaded', async (t) => {
  // The refreshed token was answered (a 503), so it was not refused: a later 401 (the token
  // expired or was replaced meanwhile) is not a refusal in a row and counts afresh.
  const { h, job, tokens, done, sent } = await scopedRun(
    t,
    [UNAUTHORIZED, { kind: 'raw', httpStatus: 503, body: { code: 'ServiceUnavailable' } }, UNAUTHORIZED],
    ACCEPTED,
  );
  assert.equal(done.state, 'succeeded');
  assert.deepEqual(sent, ['Bearer tok-0', 'Bearer tok-1', 'Bearer tok-1', 'Bearer tok-2']);
  assert.deepEqual(
    tokens.calls.filter((c) => c.rejected).map((c) => c.rejected),
    ['tok-0', 'tok-1'],
  );
  assert.equal(mustGetJob(h.db, job.id).status, 'loaded');
});

test('a provider that echoes the bearer token in its answer: the token is cut out of everything kept', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  p.runReplies = [
    { kind: 'raw', httpStatus: 400, body: { code: 'BadRequest', description: 'rejected request with Authorization: Bearer tok-0', echo: { token: 'tok-0' } } },
  ];
  const job = h.job(p.runUrl, { scope: SCOPE });
  const run = h.run(job);
  h.runner({ tokens: new FakeTokens() }).track(run.id);
  const done = await waitDone(h.db, run.id);

  assert.equal(done.state, 'failed');
  assert.equal(p.runRequests()[0]?.headers.authorization, 'Bearer tok-0', 'the token was sent');
  const stored = JSON.stringify(h.db.$client.prepare('SELECT * FROM runs WHERE id = ?').get(run.id));
  assert.equal(stored.includes('tok-0'), false, stored);
  assert.match(stored, /\[REDACTED\]/);
});

test('with a scope, a refreshed token refused too gets one more refresh (it may predate the cause of the refusal); the job stays loaded', async (t) => {
  // tok-1 came from a refresh that was already in flight when tok-0 was refused, so it can
  // be refused for the same reason; tok-2 comes from a refresh that started after that.
  const { h, job, done, sent } = await scopedRun(t, [UNAUTHORIZED, UNAUTHORIZED], ACCEPTED);
  assert.equal(done.state, 'succeeded');
  assert.deepEqual(sent, ['Bearer tok-0', 'Bearer tok-1', 'Bearer tok-2']);
  assert.equal(mustGetJob(h.db, job.id).status, 'loaded');
});

test('with a scope, a 403 that survives two refreshes makes the job inactive', async (t) => {
  const { h, job, tokens, done, sent } = await scopedRun(t, [], { kind: 'raw', httpStatus: 403, body: { code: 'Forbidden', description: 'missing consent' } });
  assert.equal(done.state, 'failed');
  assert.equal(done.attempts, 3);
  assert.equal(sent.length, 3, 'a retry after each of two refreshes, no more');
  assert.equal(tokens.calls.filter((c) => c.rejected).length, 2);
  assert.equal(done.error?.httpStatus, 403);
  assert.deepEqual(done.error?.providerError, { code: 'Forbidden', description: 'missing consent' });
  const after = mustGetJob(h.db, job.id);
  assert.equal(after.status, 'inactive');
  const detail = after.inactiveReason?.detail as { code: string; authorization_parameters: { required_scopes: string[] } };
  assert.equal(after.inactiveReason?.cause, 'globus_auth_requirements');
  assert.equal(detail.code, 'PermissionDenied');
  assert.deepEqual(detail.authorization_parameters.required_scopes, [SCOPE]);
});

test('a token provider that throws fails the run without calling the provider', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  const job = h.job(p.runUrl, { scope: SCOPE });
  const run = h.run(job);
  const tokens: TokenProvider = {
    getToken: async () => {
      throw new Error('token file is corrupt');
    },
  };
  h.runner({ tokens }).track(run.id);
  const done = await waitDone(h.db, run.id);

  assert.equal(done.state, 'failed');
  assert.equal(done.error?.code, 'AUTH_REQUIRED');
  assert.match(done.error?.message ?? '', /token file is corrupt/);
  assert.equal(p.runRequests().length, 0);
  assert.equal(mustGetJob(h.db, job.id).inactiveReason?.cause, 'globus_auth_requirements');
});

test('no consent for the scope: the job goes inactive with ConsentRequired and the scope to log in with', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  const job = h.job(p.runUrl, { scope: SCOPE });
  const run = h.run(job);
  const tokens: TokenProvider = {
    getToken: async (scope) => {
      throw new AuthRequiredError('ConsentRequired', [scope], `no consent for scope ${scope}`);
    },
  };
  h.runner({ tokens }).track(run.id);
  const done = await waitDone(h.db, run.id);

  assert.equal(done.state, 'failed');
  assert.equal(p.runRequests().length, 0, 'nothing is sent without a token');
  const after = mustGetJob(h.db, job.id);
  assert.equal(after.status, 'inactive');
  const detail = after.inactiveReason?.detail as { code: string; authorization_parameters: { required_scopes: string[] } };
  assert.equal(detail.code, 'ConsentRequired');
  assert.deepEqual(detail.authorization_parameters.required_scopes, [SCOPE]);
});

test('a corrupt token cache: the job goes inactive with TokenCacheInvalid, the daemon goes on', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  const job = h.job(p.runUrl, { scope: SCOPE });
  const run = h.run(job);
  const tokens: TokenProvider = {
    getToken: async () => {
      throw new TokenCacheError('/x/tokens.json', 'not JSON');
    },
  };
  h.runner({ tokens }).track(run.id);
  await waitDone(h.db, run.id);
  const after = mustGetJob(h.db, job.id);
  assert.equal(after.status, 'inactive');
  assert.equal((after.inactiveReason?.detail as { code: string } | undefined)?.code, 'TokenCacheInvalid');
  assert.equal(p.runRequests().length, 0);
});

test('Globus Auth unavailable: the submission waits and retries with backoff, the job stays loaded', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  p.defaultRunReply = { kind: 'accept', httpStatus: 200, final: 'SUCCEEDED' };
  const job = h.job(p.runUrl, { scope: SCOPE });
  const run = h.run(job);
  let outages = 2;
  const tokens: TokenProvider = {
    getToken: async () => {
      if (outages-- > 0) throw new AuthUnavailableError('Globus Auth token answered 503');
      return 'tok-after-outage';
    },
  };
  h.runner({ tokens, config: { retryInitialMs: 10 } }).track(run.id);
  const done = await waitDone(h.db, run.id);

  assert.equal(done.state, 'succeeded');
  assert.ok(outages < 0, 'both outages were waited out');
  assert.equal(done.attempts, 1, 'waiting for a token is not a submission attempt');
  assert.equal(p.runRequests().length, 1);
  assert.equal(p.runRequests()[0]?.headers.authorization, 'Bearer tok-after-outage');
  assert.equal(mustGetJob(h.db, job.id).status, 'loaded');
});

// ---------------------------------------------------------------------------------------
// Transient failures and retries

test('500 and 503 are retried with the same request_id until the provider accepts', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  p.runReplies = [
    { kind: 'raw', httpStatus: 500, body: 'Internal Server Error' },
    { kind: 'raw', httpStatus: 503, body: { code: 'ServiceUnavailable' } },
  ];
  p.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 0, final: 'SUCCEEDED' };
  const job = h.job(p.runUrl);
  const run = h.run(job);
  h.runner().track(run.id);
  const done = await waitDone(h.db, run.id);

  assert.equal(done.state, 'succeeded');
  assert.equal(done.attempts, 3);
  assert.equal(done.httpStatus, 202);
  assert.equal(done.error, null, 'the error of a retried attempt is cleared once accepted');
  const sent = assertRunRequests(p, job, run, 3);
  assert.equal(p.actions.size, 1);
  // Exponential backoff from retryInitialMs = 20: waits of at least 20 then 40 ms.
  assert.ok(sent[1]!.receivedAtMs - sent[0]!.receivedAtMs >= 18);
  assert.ok(sent[2]!.receivedAtMs - sent[1]!.receivedAtMs >= 38);
  assert.equal(mustGetJob(h.db, job.id).errorCount, 0);
});

test('429 with Retry-After is honoured, and the error is visible while waiting', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  p.runReplies = [{ kind: 'raw', httpStatus: 429, headers: { 'retry-after': '1' }, body: { code: 'TooManyRequests' } }];
  const job = h.job(p.runUrl);
  const run = h.run(job, { retryWindowMs: 30_000 });
  h.runner().track(run.id);

  await p.waitForRuns(1);
  const waiting = await waitFor('error recorded', () => {
    const r = getRun(h.db, run.id);
    return r?.error ? r : null;
  });
  assert.equal(waiting.state, 'pending');
  assert.equal(waiting.completedAtMs, null);
  assert.equal(waiting.attempts, 1);
  assert.equal(waiting.error?.httpStatus, 429);

  const done = await waitDone(h.db, run.id);
  assert.equal(done.state, 'succeeded');
  assert.equal(done.attempts, 2);
  const sent = assertRunRequests(p, job, run, 2);
  const gap = sent[1]!.receivedAtMs - sent[0]!.receivedAtMs;
  assert.ok(gap >= 980, `waited ${gap} ms, Retry-After asked for 1000`);
  assert.ok(gap < 2_000, `waited ${gap} ms`);
});

test('a Retry-After beyond the retry window gives up at once', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  p.defaultRunReply = { kind: 'raw', httpStatus: 429, headers: { 'retry-after': '3600' }, body: { code: 'TooManyRequests' } };
  const job = h.job(p.runUrl);
  const run = h.run(job, { retryWindowMs: 10_000 });
  const started = Date.now();
  h.runner().track(run.id);
  const done = await waitDone(h.db, run.id);

  assert.ok(Date.now() - started < 1_000, 'did not sleep toward the Retry-After');
  assert.equal(done.state, 'failed');
  assert.equal(done.attempts, 1);
  assert.equal(done.httpStatus, 429);
  assert.match(done.error?.message ?? '', /gave up after 1 attempts/);
});

test('transient failures past retryUntilMs give up and fail the run', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  p.defaultRunReply = { kind: 'raw', httpStatus: 503, body: { code: 'ServiceUnavailable', description: 'maintenance' } };
  const job = h.job(p.runUrl);
  const run = h.run(job, { retryWindowMs: 400 });
  h.runner().track(run.id);
  const done = await waitDone(h.db, run.id);

  assert.equal(done.state, 'failed');
  assert.equal(done.error?.code, 'ACTION_HTTP');
  assert.equal(done.error?.httpStatus, 503);
  assert.equal(done.httpStatus, 503);
  assert.deepEqual(done.error?.providerError, { code: 'ServiceUnavailable', description: 'maintenance' });
  const sent = assertRunRequests(p, job, run, done.attempts);
  assert.ok(done.attempts >= 3, `retried (${done.attempts} attempts)`);
  assert.match(done.error?.message ?? '', new RegExp(`gave up after ${done.attempts} attempts`));
  // No retry is scheduled to go out after the deadline (slack for a late timer on a busy machine),
  // and the run gives up right after the last answer instead of sleeping toward the deadline.
  const last = sent.at(-1)!;
  assert.ok(last.receivedAtMs <= run.retryUntilMs + 150, `last attempt ${last.receivedAtMs - run.retryUntilMs} ms after the deadline`);
  assert.ok(done.completedAtMs! - last.receivedAtMs < 150, 'gave up without sleeping');
  const after = mustGetJob(h.db, job.id);
  assert.equal(after.errorCount, 1);
  assert.equal(after.status, 'loaded');
});

test('a hanging provider hits actionTimeoutMs and the request is retried', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  p.runReplies = [{ kind: 'hang' }];
  const job = h.job(p.runUrl);
  const run = h.run(job);
  const runner = h.runner({ config: { actionTimeoutMs: 200 } });
  const started = Date.now();
  runner.track(run.id);
  const done = await waitDone(h.db, run.id);

  assert.equal(done.state, 'succeeded');
  assert.equal(done.attempts, 2);
  const sent = assertRunRequests(p, job, run, 2);
  // The first request's 200 ms deadline starts after track(); then the 20 ms retry wait.
  const second = sent[1]!.receivedAtMs - started;
  assert.ok(second >= 218, `second attempt ${second} ms after track(), before the timeout and the retry wait`);
  assert.ok(second < 1_500, `second attempt ${second} ms after track(): the timeout is not enforced`);
});

test('a provider that always hangs fails with ACTION_TIMEOUT once the window is over', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  p.defaultRunReply = { kind: 'hang' };
  const job = h.job(p.runUrl);
  const run = h.run(job, { retryWindowMs: 300 });
  h.runner({ config: { actionTimeoutMs: 100 } }).track(run.id);
  const done = await waitDone(h.db, run.id);

  assert.equal(done.state, 'failed');
  assert.equal(done.error?.code, 'ACTION_TIMEOUT');
  assert.ok(done.attempts >= 2);
  assert.equal(done.httpStatus, null, 'no HTTP answer was ever received');
  assertRunRequests(p, job, run, done.attempts);
});

test('a connection reset is transient: retried with the same request_id', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  p.runReplies = [{ kind: 'reset' }, { kind: 'reset' }];
  const job = h.job(p.runUrl);
  const run = h.run(job);
  h.runner().track(run.id);
  const done = await waitDone(h.db, run.id);

  assert.equal(done.state, 'succeeded');
  assert.equal(done.attempts, 3);
  assertRunRequests(p, job, run, 3);
  assert.equal(p.actions.size, 1);
});

test('a provider that keeps resetting fails with ACTION_NETWORK', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  p.defaultRunReply = { kind: 'reset' };
  const job = h.job(p.runUrl);
  const run = h.run(job, { retryWindowMs: 150 });
  h.runner().track(run.id);
  const done = await waitDone(h.db, run.id);

  assert.equal(done.state, 'failed');
  assert.equal(done.error?.code, 'ACTION_NETWORK');
  assert.ok(done.attempts >= 2);
});

test('a refused connection (nothing listening) is transient', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  const deadUrl = p.runUrl;
  await p.close(); // the port is now closed
  const job = h.job(deadUrl);
  const run = h.run(job, { retryWindowMs: 150 });
  h.runner().track(run.id);
  const done = await waitDone(h.db, run.id);

  assert.equal(done.state, 'failed');
  assert.equal(done.error?.code, 'ACTION_NETWORK');
  assert.ok(done.attempts >= 2, `retried (${done.attempts} attempts)`);
});

// ---------------------------------------------------------------------------------------
// Status polls

test('a status poll 404 fails the run with ACTION_STATUS_UNKNOWN and keeps the submission status', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  p.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 5 };
  p.statusReplies = [{ kind: 'raw', httpStatus: 404, body: { code: 'NotFound', description: 'no such action' } }];
  const job = h.job(p.runUrl);
  const run = h.run(job);
  h.runner().track(run.id);
  const done = await waitDone(h.db, run.id);

  assert.equal(done.state, 'failed');
  assert.equal(done.error?.code, 'ACTION_STATUS_UNKNOWN');
  assert.equal(done.error?.httpStatus, 404);
  assert.deepEqual(done.error?.providerError, { code: 'NotFound', description: 'no such action' });
  assert.equal(done.httpStatus, 202, 'httpStatus is the submission status (SPEC §3), not the poll status');
  assert.equal(done.actionId, [...p.actions.values()][0]?.actionId);
  assert.equal(done.actionStatus, 'ACTIVE', 'the last known status is kept');
  assert.equal(p.statusRequests().length, 1);
  assert.equal(mustGetJob(h.db, job.id).errorCount, 1);
});

test('a 401 on a status poll without a scope fails the run and keeps the submission status', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  p.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 5 };
  p.statusReplies = [{ kind: 'raw', httpStatus: 401, body: { code: 'AuthenticationFailed' } }];
  const job = h.job(p.runUrl);
  const run = h.run(job);
  h.runner().track(run.id);
  const done = await waitDone(h.db, run.id);

  assert.equal(done.state, 'failed');
  assert.equal(done.error?.httpStatus, 401);
  assert.equal(done.httpStatus, 202);
  assert.equal(mustGetJob(h.db, job.id).status, 'inactive');
});

test('with a scope, a 401 on a status poll refreshes the token once and polling goes on', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  p.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 1, final: 'SUCCEEDED' };
  p.statusReplies = [{ kind: 'raw', httpStatus: 401, body: { code: 'AuthenticationFailed' } }];
  const job = h.job(p.runUrl, { scope: SCOPE });
  const run = h.run(job);
  const tokens = new FakeTokens();
  h.runner({ tokens }).track(run.id);
  const done = await waitDone(h.db, run.id);

  assert.equal(done.state, 'succeeded');
  assert.equal(done.httpStatus, 202);
  assert.equal(tokens.calls.filter((c) => c.rejected).length, 1);
  const polls = p.statusRequests();
  assert.deepEqual(
    polls.map((r) => r.headers.authorization),
    ['Bearer tok-0', 'Bearer tok-1', 'Bearer tok-1'],
    '401, then ACTIVE and SUCCEEDED with the refreshed token',
  );
  assert.equal(mustGetJob(h.db, job.id).status, 'loaded');
});

test('500 and a reset on a status poll are retried until the action ends', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  p.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 1, final: 'SUCCEEDED' };
  p.statusReplies = [{ kind: 'raw', httpStatus: 500, body: 'oops' }, { kind: 'reset' }];
  const job = h.job(p.runUrl);
  const run = h.run(job);
  h.runner().track(run.id);
  const done = await waitDone(h.db, run.id);

  assert.equal(done.state, 'succeeded');
  assert.equal(done.actionStatus, 'SUCCEEDED');
  assert.equal(done.httpStatus, 202);
  assert.equal(done.attempts, 1, 'polls are not submission attempts');
  // 500, reset, ACTIVE, SUCCEEDED.
  assert.equal(p.statusRequests().length, 4);
  assert.equal(p.runRequests().length, 1);
});

// ---------------------------------------------------------------------------------------
// Restart recovery

test('a pending run cut off by shutdown is re-sent after restart with the same request_id and deduplicated', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  // The provider starts the action but answers too late for the first daemon.
  p.runReplies = [{ kind: 'delay', ms: 300, next: { kind: 'accept', httpStatus: 202, activePolls: 1, final: 'SUCCEEDED' } }];
  const job = h.job(p.runUrl);
  const run = h.run(job);

  const first = h.runner();
  first.track(run.id);
  await p.waitForRuns(1);
  await first.stop(20);
  const left = mustGetRun(h.db, run.id);
  assert.equal(left.state, 'pending');
  assert.equal(left.completedAtMs, null);
  assert.equal(left.attempts, 1);

  const action = await waitFor('the provider to start the action', () => [...p.actions.values()][0]);
  const second = h.runner();
  assert.equal(second.resumeOpenRuns(), 1);
  const done = await waitDone(h.db, run.id);

  assert.equal(done.state, 'succeeded');
  assert.equal(done.httpStatus, 200, 'the provider answered the repeat from its dedup table');
  assert.equal(done.attempts, 2);
  assert.equal(done.actionId, action.actionId);
  assert.equal(p.actions.size, 1, 'no second action');
  const sent = assertRunRequests(p, job, run, 2);
  assert.equal((sent[0]!.body as { request_id: string }).request_id, (sent[1]!.body as { request_id: string }).request_id);
  assert.ok(p.statusRequests().length >= 1);
});

test('a pending run left in the database (crash after send) is re-sent and deduplicated', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  p.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 0, final: 'SUCCEEDED' };
  const job = h.job(p.runUrl);
  const run = h.run(job);
  // The previous daemon sent the request (the provider has the action), then crashed.
  const pre = await request(p.runUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ request_id: run.requestId, ...job.callbackBody }),
  });
  assert.equal(pre.statusCode, 202);
  const preDoc = (await pre.body.json()) as { action_id: string };
  updateRun(h.db, run.id, { attempts: 1 });

  const runner = h.runner();
  assert.equal(runner.resumeOpenRuns(), 1);
  const done = await waitDone(h.db, run.id);
  assert.equal(done.state, 'succeeded');
  assert.equal(done.httpStatus, 200);
  assert.equal(done.actionId, preDoc.action_id);
  assert.equal(done.attempts, 2);
  assert.equal(p.actions.size, 1);
  assertRunRequests(p, job, run, 2);
});

test('an active run with an action_id is polled to completion by resumeOpenRuns, never re-submitted', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  p.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 2, final: 'SUCCEEDED' };
  const job = h.job(p.runUrl);
  const finished = h.run(job);
  updateRun(h.db, finished.id, { state: 'succeeded', completedAtMs: Date.now(), attempts: 1 });
  const run = h.run(job);
  // The previous daemon submitted it and recorded the ACTIVE answer before stopping.
  const pre = await request(p.runUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ request_id: run.requestId, ...job.callbackBody }),
  });
  const preDoc = (await pre.body.json()) as Record<string, unknown> & { action_id: string; status: string };
  assert.equal(preDoc.status, 'ACTIVE');
  updateRun(h.db, run.id, { state: 'active', attempts: 1, httpStatus: 202, actionId: preDoc.action_id, actionStatus: 'ACTIVE', actionDocument: preDoc });
  const before = p.requests.length;

  const runner = h.runner();
  assert.equal(runner.resumeOpenRuns(), 1, 'only the open run is resumed');
  const done = await waitDone(h.db, run.id);

  assert.equal(done.state, 'succeeded');
  assert.equal(done.actionStatus, 'SUCCEEDED');
  assert.equal(done.httpStatus, 202, 'the original submission status is kept');
  assert.equal(done.attempts, 1, 'no new submission attempt');
  assert.equal(p.runRequests().length, 1, 'not re-submitted');
  const polls = p.requests.slice(before).filter((r) => r.path.endsWith('/status'));
  assert.equal(polls.length, 3, 'ACTIVE, ACTIVE, SUCCEEDED');
  for (const poll of polls) assert.equal(poll.path, `/ap/${preDoc.action_id}/status`);
  await waitFor('release', () => p.releaseRequests().length === 1);
  assert.equal(mustGetRun(h.db, finished.id).state, 'succeeded', 'the finished run is untouched');
});

test('runs that are already complete, or missing, are not driven', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  const job = h.job(p.runUrl);
  const run = h.run(job);
  updateRun(h.db, run.id, { state: 'failed', completedAtMs: Date.now() });
  const agent = new Agent();
  const runner = h.runner({ agent });
  assert.equal(runner.resumeOpenRuns(), 0);
  runner.track(run.id);
  runner.track(999_999);
  assert.equal(runner.inFlight, 0, 'no driver started (every request about a run is sent by its driver)');
  await requestsSettled(agent);
  assert.equal(p.requests.length, 0);
  assert.equal(mustGetRun(h.db, run.id).state, 'failed');
});

// ---------------------------------------------------------------------------------------
// Shutdown

test('stop(grace) while a request hangs returns after about the grace and leaves the run pending', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  p.defaultRunReply = { kind: 'hang' };
  const job = h.job(p.runUrl);
  const run = h.run(job);
  const agent = new Agent();
  const runner = h.runner({ config: { actionTimeoutMs: 5_000 }, agent });
  runner.track(run.id);
  await p.waitForRuns(1);

  const started = Date.now();
  await runner.stop(200);
  const took = Date.now() - started;
  assert.ok(took >= 190, `stop returned after ${took} ms, before the grace`);
  assert.ok(took < 700, `stop took ${took} ms for a 200 ms grace`);
  assert.equal(runner.inFlight, 0);

  const left = mustGetRun(h.db, run.id);
  assert.equal(left.state, 'pending', 'not failed: its outcome is unknown');
  assert.equal(left.completedAtMs, null);
  assert.equal(left.error, null);
  assert.equal(left.attempts, 1);
  assert.equal(mustGetJob(h.db, job.id).errorCount, 0);

  // A stopped runner takes no new work.
  const other = h.run(job);
  runner.track(other.id);
  assert.equal(runner.inFlight, 0);
  await requestsSettled(agent);
  assert.equal(p.runRequests().length, 1);
});

test('stop() ends retry sleeps and poll sleeps at once, well before the grace', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  const retrying = h.job(p.runUrl);
  const polling = h.job(p.runUrl);
  p.runReplies = [
    { kind: 'raw', httpStatus: 503, body: 'busy' },
    { kind: 'accept', httpStatus: 202, activePolls: 100 },
  ];
  const r1 = h.run(retrying, { retryWindowMs: 60_000 });
  const r2 = h.run(polling);
  const runner = h.runner({ config: { retryInitialMs: 10_000, pollInitialMs: 10_000 } });
  runner.track(r1.id);
  await p.waitForRuns(1);
  runner.track(r2.id);
  await waitFor('second run active', () => getRun(h.db, r2.id)?.state === 'active');
  await waitFor('first run error recorded', () => getRun(h.db, r1.id)?.error);

  const started = Date.now();
  await runner.stop(5_000);
  assert.ok(Date.now() - started < 500, 'sleeping drivers end at once');
  assert.equal(mustGetRun(h.db, r1.id).state, 'pending');
  assert.equal(mustGetRun(h.db, r1.id).completedAtMs, null);
  assert.equal(mustGetRun(h.db, r2.id).state, 'active');
  assert.equal(mustGetRun(h.db, r2.id).completedAtMs, null);
});

test('a request answered within the grace is still recorded', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  p.runReplies = [{ kind: 'delay', ms: 100, next: { kind: 'accept', httpStatus: 200, activePolls: 0, final: 'SUCCEEDED' } }];
  const job = h.job(p.runUrl);
  const run = h.run(job);
  const runner = h.runner();
  runner.track(run.id);
  await p.waitForRuns(1);
  await runner.stop(2_000);
  const done = mustGetRun(h.db, run.id);
  assert.equal(done.state, 'succeeded');
  assert.equal(done.httpStatus, 200);
});

// ---------------------------------------------------------------------------------------
// Isolation

test('a hanging provider does not delay runs to a healthy one', async (t) => {
  const h = harness(t);
  const dead = await h.provider();
  const healthy = await h.provider();
  dead.defaultRunReply = { kind: 'hang' };
  healthy.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 1, final: 'SUCCEEDED' };
  const deadJob = h.job(dead.runUrl);
  const healthyJob = h.job(healthy.runUrl);
  // The daemon's own pool: few sockets per origin, so the dead provider's queue stays its own.
  const runner = h.runner({ config: { actionTimeoutMs: 5_000 }, agent: createProviderAgent(2) });
  const deadRuns = Array.from({ length: 6 }, () => h.run(deadJob));
  for (const r of deadRuns) runner.track(r.id);
  await dead.waitForRuns(2);

  const healthyRuns = Array.from({ length: 3 }, () => h.run(healthyJob));
  const started = Date.now();
  for (const r of healthyRuns) runner.track(r.id);
  const done = await Promise.all(healthyRuns.map((r) => waitDone(h.db, r.id, 5_000)));
  const took = Date.now() - started;

  assert.ok(took < 1_000, `healthy runs took ${took} ms while the other provider hangs`);
  for (const d of done) assert.equal(d.state, 'succeeded');
  for (const r of deadRuns) {
    const row = mustGetRun(h.db, r.id);
    assert.equal(row.state, 'pending', 'the dead provider runs are still waiting');
    assert.equal(row.completedAtMs, null);
  }
  assert.equal(runner.inFlight, deadRuns.length);
});

test('a run claimed ahead of its slot is sent at the slot, never before, and records when it fired', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  p.defaultRunReply = { kind: 'accept', httpStatus: 200, final: 'SUCCEEDED' };
  const job = h.job(p.runUrl);
  const slotAtMs = Date.now() + 300;
  const run = h.run(job, { slotAtMs });
  h.runner().track(run.id);
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(p.runRequests().length, 0, 'nothing sent before the slot');
  const done = await waitDone(h.db, run.id);
  const [sent] = p.runRequests();
  assert.ok(sent && sent.receivedAtMs >= slotAtMs, 'received at or after the slot');
  assert.ok(done.firedAtMs >= slotAtMs && done.firedAtMs - slotAtMs < 100, `fired_at is the send time (${done.firedAtMs - slotAtMs} ms late)`);
  assert.equal(done.attempts, 1);
});

test('stopping while a run waits for its slot sends nothing and leaves it pending for the next start', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  const job = h.job(p.runUrl);
  const run = h.run(job, { slotAtMs: Date.now() + 10_000 });
  const runner = h.runner();
  runner.track(run.id);
  const t0 = Date.now();
  await runner.stop(5_000);
  assert.ok(Date.now() - t0 < 1_000, 'the wait ends at once on stop');
  assert.equal(p.runRequests().length, 0);
  const after = mustGetRun(h.db, run.id);
  assert.equal(after.state, 'pending');
  assert.equal(after.attempts, 0);
});

test('per-job retention: old finished runs beyond retentionRunsPerJob are pruned, open ones never', async (t) => {
  const h = harness(t);
  const p = await h.provider();
  p.defaultRunReply = { kind: 'accept', httpStatus: 200, final: 'SUCCEEDED' };
  const job = h.job(p.runUrl, { runCount: 49 }); // the next run is the 50th: a prune check is due on it
  const old = [1, 2, 3, 4].map(() => h.run(job));
  for (const r of old.slice(0, 3)) updateRun(h.db, r.id, { state: 'succeeded', completedAtMs: Date.now() });
  const openOne = old[3]!; // still open (never driven here)
  const run = h.run(job);
  h.runner({ config: { retentionRunsPerJob: 2 } }).track(run.id);
  await waitDone(h.db, run.id);
  const left = h.db.$client.prepare('SELECT id FROM runs WHERE job_id = ? ORDER BY id').all(job.id) as { id: number }[];
  assert.deepEqual(
    left.map((r) => r.id),
    [openOne.id, run.id],
    'the newest 2 are kept; older finished ones pruned; the open one stays',
  );
});
