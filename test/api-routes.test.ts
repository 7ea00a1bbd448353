/**
 * The Timers REST API routes (issue 14 items 3, 4, 6) called directly, over a real
 * JobService on a temp SQLite: the documents' key sets against the recorded payloads, the
 * bodies the SDKs send (naive start, docstring aliases, once/recurring, time/iteration
 * ends), FastAPI-style validation problems, pause/resume/PATCH/DELETE, unknown ids, and one
 * job store shared with the CLI's path (service.list / service.submit).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test, type TestContext } from 'node:test';
import { JobService } from '../src/daemon/jobs/job-service.ts';
import { openDb } from '../src/daemon/store/open.ts';
import { timersApiRoutes } from '../src/daemon/api/routes.ts';
import { apiJobs, betweenFires } from '../src/daemon/api/jobs.ts';
import { bodyOf, piecesOf } from './support/api.ts';
import { apiStatus } from '../src/daemon/api/documents.ts';
import { MAX_INTERVAL_SECONDS as ONCE_INTERVAL_SECONDS } from '../src/core/input.ts';
import { JsonChunks, type ApiMethod, type ApiResponse } from '../src/daemon/api/types.ts';
import { JobNotFoundError, RequestValidationError } from '../src/core/errors.ts';
import { TRANSFER_SCOPE } from '../src/core/scopes.ts';
import { TRANSFER_ACTION_URL } from '../src/core/transfer.ts';
import { FakeClock } from './support/clock.ts';
import { tempHome, testConfig } from './support/env.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const URL_RUN = 'http://127.0.0.1:9/run';
/** A provider a scoped job's token may go to under the strict token rules (https). */
const URL_HTTPS_RUN = 'https://actions.example.org/run';
const SDK_COMMON = JSON.parse(fs.readFileSync(new URL('../../shared/reference/globus-sdk/timer/_common.json', import.meta.url), 'utf8')) as Record<
  string,
  Record<string, unknown>
>;

// biome-ignore lint/suspicious/noExplicitAny: response documents are read by key path; their shapes are asserted, not typed
type Json = Record<string, any>;

function harness(t: TestContext, opts: { tokens?: { hasConsent?(scope: string): boolean } } = {}) {
  const { paths } = tempHome(t);
  const db = openDb(paths.dbFile);
  t.after(() => db.$client.close());
  const clock = new FakeClock(T0);
  const service = new JobService({ db, clock, config: testConfig(), onScheduleChange: () => {} });
  const env: NodeJS.ProcessEnv = {};
  const routes = timersApiRoutes({ jobs: apiJobs(service, opts.tokens), env, now: () => clock.now() });
  /** Call the route for `method pattern` as the server would. */
  const call = async (
    method: ApiMethod,
    pattern: string,
    opts: { id?: string; body?: unknown; query?: string } = {},
  ): Promise<ApiResponse & { body: Json }> => {
    const route = routes.find((r) => r.method === method && r.pattern === pattern);
    assert.ok(route, `no route ${method} ${pattern}`);
    const params: Record<string, string> = opts.id === undefined ? {} : { job_id: opts.id };
    const res = await route.handle({
      method,
      path: pattern.replace(':job_id', opts.id ?? ''),
      params,
      query: new URLSearchParams(opts.query ?? ''),
      body: opts.body,
    });
    return { status: res.status, body: await bodyOf(res.body) } as ApiResponse & { body: Json };
  };
  const createJob = (over: Json = {}) =>
    call('POST', '/jobs/', {
      body: { callback_url: URL_RUN, callback_body: { body: { a: 1 } }, start: '2026-01-01T00:10:00', interval: 90, name: 'n', ...over },
    });
  return { service, clock, call, createJob };
}

/** The problems a call is refused with (RequestValidationError). */
async function problemsOf(p: Promise<unknown>): Promise<{ loc: (string | number)[]; msg: string; type: string }[]> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof RequestValidationError, `expected RequestValidationError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected a validation error');
}

const sorted = (o: object) => Object.keys(o).sort();

test('V1 and V2 documents have the recorded key sets (plus timer_type, schedule, activity)', async (t) => {
  const h = harness(t);
  const v1 = (await h.createJob()).body;
  assert.deepEqual(sorted(v1), [...Object.keys(SDK_COMMON.V1_TIMER!), 'timer_type', 'schedule', 'activity'].sort());
  const timer = (
    await h.call('POST', '/v2/timer', {
      body: {
        timer: {
          timer_type: 'transfer',
          name: 't',
          schedule: { type: 'recurring', interval_seconds: 300, start: '2030-01-01T00:00:00+00:00', end: { condition: 'iterations', count: 3 } },
          body: {
            DATA_TYPE: 'transfer',
            DATA: [{ DATA_TYPE: 'transfer_item', source_path: '/a', destination_path: '/b' }],
            source_endpoint: 'aa',
            destination_endpoint: 'bb',
            submission_id: 'x',
          },
        },
      },
    })
  ).body.timer as Json;
  assert.deepEqual(sorted(timer), [...Object.keys(SDK_COMMON.V2_TRANSFER_TIMER!), 'activity'].sort());
  assert.equal(timer.timer_type, 'transfer');
  assert.deepEqual(timer.schedule, {
    type: 'recurring',
    interval_seconds: 300,
    start: '2030-01-01T00:00:00+00:00',
    end: { condition: 'iterations', count: 3 },
  });
  assert.equal(timer.next_run, '2030-01-01T00:00:00+00:00');
  assert.equal(timer.body.submission_id, undefined, 'submission_id is dropped');
  assert.equal(timer.number_of_runs, 0);
  // The same job through /jobs: the Transfer AP with the Transfer scope, as `job transfer` makes it.
  const same = (await h.call('GET', '/jobs/:job_id', { id: timer.job_id })).body;
  assert.equal(same.callback_url, TRANSFER_ACTION_URL);
  assert.equal(same.scope, TRANSFER_SCOPE);
  assert.equal(same.timer_type, 'transfer');
  assert.deepEqual(same.callback_body.body.DATA, timer.body.DATA);
});

test('POST /jobs/: a naive start is UTC, an offset is honoured, times are written +00:00', async (t) => {
  const h = harness(t);
  const res = await h.createJob({ start: '2026-01-01T00:10:00.010791' });
  assert.equal(res.status, 201);
  assert.equal(res.body.start, '2026-01-01T00:10:00.010+00:00');
  assert.equal(res.body.next_run, '2026-01-01T00:10:00.010+00:00');
  assert.equal(res.body.interval, 90);
  assert.equal(res.body.status, 'loaded');
  assert.deepEqual(res.body.activity, { code: 'awaiting_next_run', next_run: res.body.next_run });
  assert.deepEqual(res.body.results, { data: [], page_next: null });
  assert.equal(res.body.inactive_reason, null);
  const offset = await h.createJob({ start: '2026-01-01T02:10:00+02:00', interval: 60.0, stop_after: '2026-01-02T00:00:00', stop_after_n: 5 });
  assert.equal(offset.body.start, '2026-01-01T00:10:00+00:00');
  assert.deepEqual(offset.body.stop_after, { date: '2026-01-02T00:00:00+00:00', n_runs: 5 });
  for (const doc of [res.body, offset.body]) for (const key of ['start', 'submitted_at', 'next_run']) assert.doesNotMatch(doc[key], /Z$/);
});

test('a TimerJob for the legacy Transfer provider (the recorded V1_TIMER) is moved to the current one, as job submit does', async (t) => {
  const h = harness(t);
  const recorded = SDK_COMMON.V1_TIMER as Json;
  const doc = (await h.createJob({ callback_url: recorded.callback_url, callback_body: recorded.callback_body, scope: null })).body;
  assert.equal(doc.callback_url, TRANSFER_ACTION_URL);
  assert.equal(doc.scope, TRANSFER_SCOPE);
  assert.equal(doc.timer_type, 'transfer');
  assert.equal(doc.callback_body.body.source_endpoint, recorded.callback_body.body.source_endpoint_id);
});

test('a run-once TimerJob (interval null, stop_after_n 1) shows as upstream', async (t) => {
  const h = harness(t);
  const once = (await h.createJob({ interval: null, stop_after_n: 1, start: '2026-01-01T01:00:00' })).body;
  assert.equal(once.interval, null);
  assert.deepEqual(once.schedule, { type: 'once', datetime: '2026-01-01T01:00:00+00:00' });
  assert.deepEqual(once.stop_after, { date: null, n_runs: 1 });
  assert.equal(once.next_run, '2026-01-01T01:00:00+00:00');
  // Stored as an interval job (the CLI's view): the longest interval, one run.
  const cli = h.service.get(once.job_id);
  assert.equal(cli.interval, ONCE_INTERVAL_SECONDS);
  // A past time means now.
  const past = (await h.createJob({ interval: null, stop_after: { date: null, n_runs: 1 }, start: '2020-01-01T00:00:00' })).body;
  assert.equal(past.next_run, '2026-01-01T00:00:00+00:00');
});

test('POST /v2/timer: once and recurring schedules, time and iteration ends, the SDK docstring aliases', async (t) => {
  const h = harness(t);
  const create = async (schedule: Json, extra: Json = {}) =>
    (
      await h.call('POST', '/v2/timer', {
        body: { timer: { timer_type: 'flow', flow_id: '000A11CE-0000-4000-8000-000000000004', schedule, body: { body: { x: 1 } }, ...extra } },
      })
    ).body.timer as Json;

  const now = await create({ type: 'once' });
  assert.deepEqual(now.schedule, { type: 'once', datetime: '2026-01-01T00:00:00+00:00' });
  assert.equal(now.timer_type, 'flow');
  assert.equal(now.flow_id, '000a11ce-0000-4000-8000-000000000004');
  assert.deepEqual(now.body, { body: { x: 1 } });
  assert.match(now.name, /^Timer created /);

  const at = await create({ type: 'once', datetime: '2026-02-01T00:00:00+01:00' }, { name: 'at' });
  assert.deepEqual(at.schedule, { type: 'once', datetime: '2026-01-31T23:00:00+00:00' });
  assert.equal(at.next_run, '2026-01-31T23:00:00+00:00');

  const untilTime = await create({ type: 'recurring', interval_seconds: 3600, end: { condition: 'time', datetime: '2026-01-02T00:00:00Z' } });
  assert.deepEqual(untilTime.schedule, {
    type: 'recurring',
    interval_seconds: 3600,
    start: '2026-01-01T00:00:00+00:00',
    end: { condition: 'time', datetime: '2026-01-02T00:00:00+00:00' },
  });

  // client.py:223 and data.py:79: `interval` for interval_seconds, `iterations` for count.
  const aliases = await create({ type: 'recurring', interval: 1800, start: '2026-01-01T06:00:00', end: { condition: 'iterations', iterations: 10 } });
  assert.deepEqual(aliases.schedule, {
    type: 'recurring',
    interval_seconds: 1800,
    start: '2026-01-01T06:00:00+00:00',
    end: { condition: 'iterations', count: 10 },
  });
  // The recorded quirk: an end with no condition.
  const quirk = await create({ type: 'recurring', interval_seconds: 60, end: { count: 2 } });
  assert.deepEqual(quirk.schedule.end, { condition: 'iterations', count: 2 });

  // Flow start document keys → the run request's, and back.
  const managed = await create({ type: 'once' }, { body: { body: {}, run_managers: ['urn:globus:auth:identity:000a11ce-0000-4000-8000-000000000005'] } });
  assert.deepEqual(managed.body, { body: {}, run_managers: ['urn:globus:auth:identity:000a11ce-0000-4000-8000-000000000005'] });
  const stored = h.service.get(managed.job_id);
  assert.equal(stored.callback_url, 'https://flows.automate.globus.org/flows/000a11ce-0000-4000-8000-000000000004/run');
  assert.equal(stored.scope, 'https://auth.globus.org/scopes/000a11ce-0000-4000-8000-000000000004/flow_000a11ce_0000_4000_8000_000000000004_user');
  assert.deepEqual(stored.callback_body, { body: {}, manage_by: ['urn:globus:auth:identity:000a11ce-0000-4000-8000-000000000005'] });
});

test('invalid bodies are refused with FastAPI-style problems', async (t) => {
  const h = harness(t);
  const missing = await problemsOf(h.call('POST', '/jobs/', { body: { callback_body: { body: {} }, interval: 60 } }));
  assert.deepEqual(
    missing.map((p) => [p.loc, p.msg, p.type]),
    [
      [['body', 'callback_url'], 'field required', 'value_error.missing'],
      [['body', 'start'], 'field required', 'value_error.missing'],
    ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
  );
  assert.deepEqual((await problemsOf(h.call('POST', '/jobs/', {})))[0]?.loc, ['body']);
  const types = await problemsOf(h.createJob({ interval: 'often', name: 7 }));
  assert.deepEqual(
    types.map((p) => p.loc),
    [
      ['body', 'interval'],
      ['body', 'name'],
    ],
  );
  assert.equal(types[1]?.type, 'type_error.str');
  assert.deepEqual((await problemsOf(h.createJob({ interval: 1.5 })))[0]?.loc, ['body', 'interval']);
  assert.deepEqual((await problemsOf(h.createJob({ interval: null })))[0]?.loc, ['body', 'interval']);
  assert.deepEqual((await problemsOf(h.createJob({ start: 'tomorrow' })))[0], {
    loc: ['body', 'start'],
    msg: 'invalid datetime format',
    type: 'value_error.datetime',
  });
  assert.deepEqual((await problemsOf(h.createJob({ stop_after: 5 })))[0]?.loc, ['body', 'stop_after']);

  const timer = (t2: Json) => h.call('POST', '/v2/timer', { body: { timer: t2 } });
  assert.deepEqual((await problemsOf(timer({ timer_type: 'flow', schedule: { type: 'once' }, body: { body: {} } })))[0]?.loc, ['body', 'timer', 'flow_id']);
  assert.deepEqual((await problemsOf(timer({ timer_type: 'transfer', schedule: { type: 'recurring' }, body: {} })))[0]?.loc, [
    'body',
    'timer',
    'schedule',
    'interval_seconds',
  ]);
  assert.deepEqual((await problemsOf(timer({ timer_type: 'ftp', schedule: { type: 'once' }, body: {} })))[0]?.loc, ['body', 'timer', 'timer_type']);
  assert.deepEqual((await problemsOf(h.call('POST', '/v2/timer', { body: { nope: 1 } })))[0]?.loc, ['body', 'timer']);
  // Nothing was made.
  assert.equal(h.service.list({}).jobs.length, 0);
});

test('pause (no body) and resume ({} or update_credentials, body or query) answer messages; inactive has a reason object', async (t) => {
  const h = harness(t);
  const id = (await h.createJob()).body.job_id as string;
  assert.deepEqual((await h.call('POST', '/jobs/:job_id/pause', { id })).body, { message: `Successfully paused job ${id}.` });
  const paused = (await h.call('GET', '/jobs/:job_id', { id: id.toUpperCase() })).body;
  assert.equal(paused.status, 'inactive');
  assert.deepEqual(paused.inactive_reason, { cause: 'user', detail: null });
  assert.deepEqual(paused.activity, { code: 'paused', reason: 'user' });
  assert.deepEqual((await h.call('POST', '/jobs/:job_id/resume', { id, body: {} })).body, { message: `Successfully resumed job ${id}.` });
  assert.equal(h.service.get(id).status, 'loaded');
  await h.call('POST', '/jobs/:job_id/pause', { id });
  await h.call('POST', '/jobs/:job_id/resume', { id, body: { update_credentials: true } });
  await h.call('POST', '/jobs/:job_id/resume', { id, query: 'update_credentials=false' });
  await h.call('POST', '/jobs/:job_id/resume', { id });
  assert.deepEqual((await problemsOf(h.call('POST', '/jobs/:job_id/resume', { id, body: { update_credentials: 'yes' } })))[0]?.loc, [
    'body',
    'update_credentials',
  ]);
});

test('PATCH: name as upstream, interval and other job update fields as our extension', async (t) => {
  const h = harness(t);
  const id = (await h.createJob()).body.job_id as string;
  const renamed = await h.call('PATCH', '/jobs/:job_id', { id, body: { name: 'updated name' } });
  assert.equal(renamed.status, 200);
  assert.equal(renamed.body.name, 'updated name');
  const faster = (await h.call('PATCH', '/jobs/:job_id', { id, body: { interval: 30, stop_after_n: 4 } })).body;
  assert.equal(faster.interval, 30);
  assert.deepEqual(faster.schedule.end, { condition: 'iterations', count: 4 });
  assert.equal(h.service.get(id).interval, 30);
  assert.deepEqual((await problemsOf(h.call('PATCH', '/jobs/:job_id', { id, body: { callback_url: URL_RUN } })))[0]?.loc, ['body', 'callback_url']);
  assert.deepEqual((await problemsOf(h.call('PATCH', '/jobs/:job_id', { id, body: {} })))[0]?.loc, ['body']);
});

test('DELETE answers the document with status deleted; the job is no longer listed', async (t) => {
  const h = harness(t);
  const id = (await h.createJob()).body.job_id as string;
  const deleted = await h.call('DELETE', '/jobs/:job_id', { id });
  assert.equal(deleted.status, 200);
  assert.equal(deleted.body.status, 'deleted');
  assert.equal(deleted.body.activity, null);
  assert.deepEqual((await h.call('GET', '/jobs/')).body, { jobs: [] });
});

test('an unknown or malformed id is JobNotFoundError on every verb', async (t) => {
  const h = harness(t);
  const unknown = '000a11ce-0000-1000-8000-000000000009';
  for (const id of [unknown, 'not-a-uuid', '000a11ce']) {
    for (const [method, pattern, body] of [
      ['GET', '/jobs/:job_id', undefined],
      ['PATCH', '/jobs/:job_id', { name: 'x' }],
      ['DELETE', '/jobs/:job_id', undefined],
      ['POST', '/jobs/:job_id/pause', undefined],
      ['POST', '/jobs/:job_id/resume', {}],
    ] as const) {
      await assert.rejects(h.call(method, pattern, { id, body }), JobNotFoundError, `${method} ${pattern} ${id}`);
    }
  }
});

test('one job store with the CLI: API jobs are in service.list, CLI jobs in GET /jobs/; filter_status; unknown query params ignored', async (t) => {
  const h = harness(t);
  const viaApi = (await h.createJob({ name: 'api' })).body.job_id as string;
  assert.ok(h.service.list({}).jobs.some((j) => j.job_id === viaApi));
  const viaCli = h.service.submit({ name: 'cli', interval_seconds: 60, callback_url: URL_RUN, callback_body: { body: {} } });
  const paused = h.service.submit({ name: 'cli paused', interval_seconds: 60, callback_url: URL_RUN, callback_body: { body: {} } });
  h.service.pause({ job_id: paused.job_id });
  const all = (await h.call('GET', '/jobs/', { query: 'order=submitted_at+asc&result_count=3' })).body.jobs as Json[];
  assert.deepEqual(all.map((j) => j.name).sort(), ['api', 'cli', 'cli paused']);
  assert.equal(all.find((j) => j.job_id === viaCli.job_id)?.timer_type, 'generic');
  const inactive = (await h.call('GET', '/jobs/', { query: 'filter_status=inactive' })).body.jobs as Json[];
  assert.deepEqual(
    inactive.map((j) => j.job_id),
    [paused.job_id],
  );
  const active = (await h.call('GET', '/jobs/', { query: 'filter_status=active,ended' })).body.jobs as Json[];
  assert.equal(active.length, 2);
  // The CLI deletes what the API made; the API sees it gone.
  h.service.delete(viaApi);
  assert.equal(((await h.call('GET', '/jobs/')).body.jobs as Json[]).length, 2);
});

test('status words: finished is ended, the others as ours', () => {
  assert.deepEqual(
    ['loaded', 'inactive', 'finished', 'deleted'].map((s) => apiStatus(s as 'loaded')),
    ['loaded', 'inactive', 'ended', 'deleted'],
  );
});

test('consent at create (issue 14 item 5): a scope the token provider has no consent for makes the job inactive, as upstream', async (t) => {
  const consented = new Set<string>();
  const asked: string[] = [];
  const h = harness(t, {
    tokens: {
      hasConsent: (scope) => {
        asked.push(scope);
        return consented.has(scope);
      },
    },
  });
  const scope = 'https://auth.globus.org/scopes/000a11ce-0000-4000-8000-000000000009/run';
  const withScope = { scope, callback_url: URL_HTTPS_RUN };

  // No consent: created, inactive with the runner's reason shape, never scheduled.
  const created = await h.createJob(withScope);
  assert.equal(created.status, 201);
  assert.equal(created.body.status, 'inactive');
  assert.equal(created.body.inactive_reason.cause, 'globus_auth_requirements');
  assert.equal(created.body.inactive_reason.detail.code, 'ConsentRequired');
  assert.deepEqual(created.body.inactive_reason.detail.authorization_parameters, { required_scopes: [scope] });
  assert.match(created.body.inactive_reason.detail.message, /globus-timer session login --scope/);
  assert.deepEqual(created.body.activity, { code: 'paused', reason: 'globus_auth_requirements' });
  assert.equal(created.body.next_run, null);
  const stored = h.service.get(created.body.job_id);
  assert.equal(stored.status, 'inactive');
  assert.deepEqual(stored.inactive_reason?.detail, created.body.inactive_reason.detail);

  // Consent given: resume brings it to life at the slot it would have had.
  consented.add(scope);
  await h.call('POST', '/jobs/:job_id/resume', { id: created.body.job_id });
  const resumed = h.service.get(created.body.job_id);
  assert.equal(resumed.status, 'loaded');
  assert.equal(resumed.next_run, '2026-01-01T00:10:00+00:00');

  // Consent present: loaded from the start.
  assert.equal((await h.createJob(withScope)).body.status, 'loaded');

  // No scope: nothing to consent to, the provider is not asked.
  asked.length = 0;
  assert.equal((await h.createJob({ scope: null })).body.status, 'loaded');
  assert.deepEqual(asked, []);

  // V2: a flow timer's scope is the flow's, and its answer says so too.
  const flowId = '000a11ce-0000-4000-8000-000000000004';
  const timer = (
    await h.call('POST', '/v2/timer', { body: { timer: { timer_type: 'flow', flow_id: flowId, schedule: { type: 'once' }, body: { body: {} } } } })
  ).body.timer as Json;
  const flowScope = `https://auth.globus.org/scopes/${flowId}/flow_${flowId.replaceAll('-', '_')}_user`;
  assert.equal(timer.status, 'inactive');
  assert.deepEqual(timer.inactive_reason.detail.authorization_parameters, { required_scopes: [flowScope] });
  assert.deepEqual(asked, [flowScope]);
});

test('consent at create: a provider that cannot tell (no hasConsent) leaves the job loaded; the token rules still refuse at submit', async (t) => {
  const h = harness(t, { tokens: {} });
  const scope = 'https://auth.globus.org/scopes/000a11ce-0000-4000-8000-000000000009/run';
  assert.equal((await h.createJob({ scope, callback_url: URL_HTTPS_RUN })).body.status, 'loaded');
  // A Transfer token may go to Transfer's hosts only: refused at submit, not made inactive.
  const none = createdNone(h);
  await assert.rejects(h.createJob({ scope: TRANSFER_SCOPE, callback_url: URL_HTTPS_RUN }), /Transfer/);
  assert.equal(createdNone(h), none);
});

function createdNone(h: ReturnType<typeof harness>): number {
  return h.service.list({ limit: 500 }).jobs.length;
}

test('GET /jobs/ streams the list a page of jobs per piece: every job once, in submission order, filters applied across pages', async (t) => {
  const h = harness(t);
  const ids: string[] = [];
  for (let i = 0; i < 250; i++) {
    ids.push((await h.createJob({ name: `j${i}` })).body.job_id as string);
    h.clock.advance(1); // distinct submission times, and equal ones below
  }
  // Three at one instant: listed in id order (the keyset's tie-break, also across a page boundary).
  const same: string[] = [];
  for (let i = 0; i < 3; i++) same.push((await h.createJob({ name: `same${i}` })).body.job_id as string);
  ids.push(...same.sort());
  for (const id of ids.filter((_, i) => i % 7 === 0)) await h.call('POST', '/jobs/:job_id/pause', { id });

  const route = timersApiRoutes({ jobs: apiJobs(h.service), env: {} }).find((r) => r.method === 'GET' && r.pattern === '/jobs/')!;
  const res = await route.handle({ method: 'GET', path: '/jobs/', params: {}, query: new URLSearchParams(), body: undefined });
  assert.ok(res.body instanceof JsonChunks, 'the list is streamed');
  const pieces = await piecesOf(res.body);
  assert.ok(pieces.length >= 4, `${pieces.length} pieces for 253 jobs: one per page of 50, and the brackets`);
  const all = (JSON.parse(pieces.join('')) as { jobs: Json[] }).jobs;
  assert.deepEqual(
    all.map((j) => j.job_id),
    ids,
  );

  const inactive = (await h.call('GET', '/jobs/', { query: 'filter_status=inactive' })).body.jobs as Json[];
  assert.deepEqual(
    inactive.map((j) => j.job_id),
    ids.filter((_, i) => i % 7 === 0),
  );
  const active = (await h.call('GET', '/jobs/', { query: 'filter_status=active' })).body.jobs as Json[];
  assert.equal(active.length, ids.length - inactive.length);
  // A filter that matches nothing on any page is still a document.
  assert.deepEqual((await h.call('GET', '/jobs/', { query: 'filter_status=ended' })).body, { jobs: [] });
});

test('betweenFires: an API change starts at once when the next fire is more than 2 ms away, waits past a fire that is closer, and goes ahead after three waits', async () => {
  let asked = 0;
  await betweenFires(() => {
    asked++;
    return null;
  });
  assert.equal(asked, 1, 'not armed: at once');
  await betweenFires(() => 50);
  // A fire due in 1 ms, then (after it) none within the budget.
  const answers = [1, 0, 30];
  const seen: number[] = [];
  await betweenFires(() => {
    const ms = answers.shift()!;
    seen.push(ms);
    return ms;
  });
  assert.deepEqual(seen, [1, 0, 30], 'it waited past the two fires in the way, then went');
  let always = 0;
  await betweenFires(() => {
    always++;
    return 0;
  });
  assert.equal(always, 3, 'back-to-back fires: three waits, then it goes ahead');
});
