/**
 * Issue 14 with the official JavaScript SDK, @globus/sdk, against a real daemon process that
 * serves the REST API on 127.0.0.1:0 (its URL from `globus-timer api url`, its token from
 * `globus-timer api token`). The SDK finds the daemon through GLOBUS_SDK_SERVICE_URL_TIMERS,
 * which it reads on every call (core/global.js getServiceBaseUrl), and carries the token in
 * `headers`: an authorization manager would put a Globus token in its place.
 *
 * Raw fetch only where the SDK has no call: POST /jobs/ (a TimerJob; @globus/sdk has
 * `timers.timer.create` for /v2/timer but no `jobs.create`). The jobs made here are also
 * seen and acted on through the CLI (bin/globus-timer.js), and the other way round.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { timers } from '@globus/sdk';
import { readApiToken } from '../src/auth/api-token.ts';
import type { JobDocument } from '../src/contract/protocol.ts';
import { until } from './support/until.ts';
import { startApiDaemon } from './support/api.ts';

/** Where @globus/sdk looks for the Timers service (plural, unlike Python's GLOBUS_SDK_SERVICE_URL_TIMER). */
const SDK_URL_ENV = 'GLOBUS_SDK_SERVICE_URL_TIMERS';

// biome-ignore lint/suspicious/noExplicitAny: API documents are read by key path; their shapes are asserted, not typed
type Json = Record<string, any>;

/** Status and parsed JSON body of a fetch Response (the SDK's or fetch's): JSON whatever the status. */
async function read(res: { status: number; headers: { get(name: string): string | null }; text(): Promise<string> }): Promise<{ status: number; body: Json }> {
  assert.equal(res.headers.get('content-type'), 'application/json', `HTTP ${res.status}: a JSON body, which the SDKs read errors from`);
  const text = await res.text();
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Json) };
}

type TimerCreatePayload = NonNullable<Parameters<typeof timers.timer.create>[0]>['payload'];

/** A naive UTC date-time, as globus-sdk's own TimerJob example sends `start`. */
function naiveUtc(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '');
}

/** A daemon with the API on 127.0.0.1:0, a fake Action Provider, and the SDK pointed at the daemon. */
async function setUp(t: TestContext) {
  const { ap, paths, cli, url, token } = await startApiDaemon(t);
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/, 'the port it bound, not 0');
  assert.equal((JSON.parse(await cli('daemon', 'status', '--format', 'json')) as { api_url: string }).api_url, url);
  assert.equal(token, readApiToken(paths.apiTokenFile));
  const before = process.env[SDK_URL_ENV];
  process.env[SDK_URL_ENV] = url;
  t.after(() => {
    if (before === undefined) delete process.env[SDK_URL_ENV];
    else process.env[SDK_URL_ENV] = before;
  });
  const headers = { Authorization: `Bearer ${token}` };
  /** POST /jobs/ with a TimerJob body: raw fetch, since @globus/sdk has no call for it. */
  const createJob = async (body: unknown, h: Record<string, string> = headers) =>
    read(await fetch(`${url}/jobs/`, { method: 'POST', headers: { ...h, 'content-type': 'application/json' }, body: JSON.stringify(body) }));
  const get = async (id: string) => read(await timers.jobs.get(id, { headers }));
  return { ap, headers, cli, createJob, get };
}

test('@globus/sdk drives a real daemon: create, list, get, a run in results, pause, resume, rename, delete', async (t) => {
  const { ap, headers, createJob, get } = await setUp(t);

  // Create: a generic job calling the fake provider every second from now (no scope: no token needed).
  const start = naiveUtc(Date.now());
  const created = await createJob({
    callback_url: ap.runUrl,
    callback_body: { body: { n: 1 } },
    start,
    interval: 1,
    name: 'sdk job',
  });
  assert.equal(created.status, 201);
  const id = created.body.job_id as string;
  assert.match(id, /^[0-9a-f-]{36}$/);
  assert.equal(created.body.status, 'loaded');
  assert.equal(created.body.timer_type, 'generic');
  assert.equal(created.body.interval, 1);
  assert.equal(created.body.start, `${start}+00:00`, 'a naive start is UTC, answered with +00:00');

  // And a transfer timer through the SDK's own create call (POST /v2/timer), a day ahead so it never fires.
  const timer = await read(
    await timers.timer.create({
      headers,
      payload: {
        timer: {
          timer_type: 'transfer',
          name: 'sdk transfer',
          schedule: {
            type: 'recurring',
            interval_seconds: 3600,
            start: new Date(Date.now() + 86_400_000).toISOString().replace('Z', '+00:00'),
            end: { condition: 'iterations', count: 2 },
          },
          body: {
            source_endpoint: 'ddb59aef-6d04-11e5-ba46-22000b92c6ec',
            destination_endpoint: 'ddb59af0-6d04-11e5-ba46-22000b92c6ec',
            DATA: [{ DATA_TYPE: 'transfer_item', source_path: '/share/godata/file1.txt', destination_path: '/~/file1.txt' }],
          },
        },
      },
    }),
  );
  assert.equal(timer.status, 201, JSON.stringify(timer.body));
  const transferId = timer.body.timer.job_id as string;
  assert.equal(timer.body.timer.timer_type, 'transfer');
  assert.equal(timer.body.timer.number_of_runs, 0);
  // No `session login` here: the token cache has no consent for the Transfer scope, so the timer
  // waits inactive for it, as the hosted service's would (issue 14 item 5; test/api-consent.test.ts).
  assert.equal(timer.body.timer.status, 'inactive');
  assert.equal(timer.body.timer.inactive_reason.cause, 'globus_auth_requirements');
  assert.equal(timer.body.timer.next_run, null);

  // List: both, V1 documents.
  const list = await read(await timers.jobs.getAll({ headers }));
  assert.equal(list.status, 200);
  const listed = new Map((list.body.jobs as Json[]).map((j) => [j.job_id as string, j]));
  assert.equal(listed.get(id)?.name, 'sdk job');
  assert.equal(listed.get(transferId)?.timer_type, 'transfer');
  assert.equal(listed.get(transferId)?.n_runs, 0, 'n_runs in the V1 view of the V2 timer');

  // Get.
  const got = await get(id);
  assert.equal(got.status, 200);
  assert.equal(got.body.callback_url, ap.runUrl);
  assert.deepEqual(got.body.callback_body, { body: { n: 1 } });

  // A run appears in results: the provider is called, and the finished run is in the document.
  const [first] = await ap.waitForRuns(1);
  assert.deepEqual((first!.body as Json).body, { n: 1 });
  assert.equal(first!.headers.authorization, undefined, 'a job without a scope sends no token');
  const ran = await until('a finished run in results', async () => {
    const doc = (await get(id)).body;
    return (doc.results.data as Json[]).some((r) => r.end_timestamp !== null) ? doc : undefined;
  });
  const run = (ran.results.data as Json[]).find((r) => r.end_timestamp !== null)!;
  assert.equal(run.run_status, 'succeeded');
  assert.equal(run.status, 200, 'the HTTP status of the run request');
  assert.equal(run.data.status, 'SUCCEEDED', "the provider's action status");
  assert.equal(run.errors, null);
  assert.ok(ran.n_runs >= 1);
  assert.match(ran.last_ran_at, /\+00:00$/);
  assert.equal(ran.results.page_next, null);

  // Pause: the message, then inactive with the user's reason (globus timer resume reads inactive_reason.cause).
  const paused = await read(await timers.jobs.pause(id, { headers }));
  assert.deepEqual(paused, { status: 200, body: { message: `Successfully paused job ${id}.` } });
  const afterPause = (await get(id)).body;
  assert.equal(afterPause.status, 'inactive');
  assert.deepEqual(afterPause.inactive_reason, { cause: 'user', detail: null });
  assert.deepEqual(afterPause.activity, { code: 'paused', reason: 'user' });
  const inactive = await read(await timers.jobs.getAll({ headers, query: { filter_status: 'inactive' } }));
  assert.deepEqual(
    (inactive.body.jobs as Json[]).map((j) => j.job_id).sort(),
    [id, transferId].sort(),
    'filter_status=inactive: the paused job and the transfer timer waiting for consent',
  );

  // Resume (update_credentials as the OAS has it, a query parameter): loaded again, and it runs again.
  const resumedAtMs = Date.now();
  const resumed = await read(await timers.jobs.resume(id, { headers, query: { update_credentials: false } }));
  assert.deepEqual(resumed, { status: 200, body: { message: `Successfully resumed job ${id}.` } });
  const afterResume = (await get(id)).body;
  assert.equal(afterResume.status, 'loaded');
  assert.equal(afterResume.inactive_reason, null);
  await until('a run after the resume', async () => (ap.runRequests().some((r) => r.receivedAtMs >= resumedAtMs) ? true : undefined));

  // Rename via PATCH: the answer and a later GET both carry the new name.
  const patched = await read(await timers.jobs.patch(id, { headers, payload: { name: 'renamed by the sdk' } }));
  assert.equal(patched.status, 200);
  assert.equal(patched.body.name, 'renamed by the sdk');
  assert.equal(patched.body.job_id, id);
  assert.equal((await get(id)).body.name, 'renamed by the sdk');

  // Delete: the job document, deleted; then 404 with the error the SDK's Response carries, and gone from the list.
  for (const jobId of [id, transferId]) {
    const removed = await read(await timers.jobs.remove(jobId, { headers }));
    assert.equal(removed.status, 200);
    assert.equal(removed.body.job_id, jobId);
    assert.equal(removed.body.status, 'deleted');
  }
  // A deleted job's document stays readable (as `job status` shows it), deleted; every change to it is 404, with
  // the error in the shape the SDK's Response carries ({"error": {code, detail, status}}).
  const after = await get(id);
  assert.equal(after.status, 200);
  assert.equal(after.body.status, 'deleted');
  for (const [call, response] of [
    ['patch', await timers.jobs.patch(id, { headers, payload: { name: 'too late' } })],
    ['pause', await timers.jobs.pause(id, { headers })],
    ['resume', await timers.jobs.resume(id, { headers })],
  ] as const) {
    assert.equal(response.ok, false, call);
    const gone = await read(response);
    assert.equal(gone.status, 404, call);
    assert.equal(gone.body.error.code, 'NOT_FOUND', call);
    assert.equal(gone.body.error.status, 404, call);
    assert.match(gone.body.error.detail, new RegExp(id), call);
  }
  const again = await read(await timers.jobs.remove(id, { headers }));
  assert.deepEqual([again.status, again.body.status], [200, 'deleted'], 'a second DELETE answers the deleted document again');
  assert.deepEqual((await read(await timers.jobs.getAll({ headers }))).body.jobs, []);
});

test('@globus/sdk errors: unknown ids 404, invalid bodies 422 with detail[], a missing or wrong token 401', async (t) => {
  const { ap, headers, createJob } = await setUp(t);

  // Unknown ids, and ids that are not UUIDs: 404 from every per-job call, in the {"error": {...}} shape.
  for (const unknown of [randomUUID(), 'not-a-uuid']) {
    const answers = {
      get: await timers.jobs.get(unknown, { headers }),
      patch: await timers.jobs.patch(unknown, { headers, payload: { name: 'x' } }),
      pause: await timers.jobs.pause(unknown, { headers }),
      resume: await timers.jobs.resume(unknown, { headers }),
      remove: await timers.jobs.remove(unknown, { headers }),
    };
    for (const [call, res] of Object.entries(answers)) {
      const a = await read(res);
      assert.equal(a.status, 404, `${call} ${unknown}`);
      assert.equal(a.body.error?.code, 'NOT_FOUND', `${call} ${unknown}`);
      assert.equal(typeof a.body.error?.detail, 'string', 'the text in error.detail, where globus-sdk reads it');
    }
  }

  // Invalid bodies: 422, FastAPI's detail[] of {loc, msg, type}.
  const empty = await createJob({});
  assert.equal(empty.status, 422);
  const problems = empty.body.detail as { loc: string[]; msg: string; type: string }[];
  assert.ok(Array.isArray(problems) && problems.length > 0);
  for (const p of problems) {
    assert.ok(Array.isArray(p.loc) && p.loc[0] === 'body', JSON.stringify(p));
    assert.equal(typeof p.msg, 'string');
    assert.equal(typeof p.type, 'string');
  }
  const missing = new Set(problems.map((p) => p.loc.join('.')));
  for (const field of ['callback_url', 'callback_body', 'start']) assert.ok(missing.has(`body.${field}`), `${field} named: ${[...missing].join(', ')}`);

  const badInterval = await createJob({ callback_url: ap.runUrl, callback_body: { body: {} }, start: naiveUtc(Date.now()), interval: 0.5 });
  assert.equal(badInterval.status, 422);
  assert.deepEqual(
    (badInterval.body.detail as Json[]).map((p) => p.loc),
    [['body', 'interval']],
  );

  // No interval, no endpoints: what the SDK's types would refuse, sent anyway.
  const notATimer = { timer: { timer_type: 'transfer', schedule: { type: 'recurring' }, body: {} } } as unknown as TimerCreatePayload;
  const badTimer = await read(await timers.timer.create({ headers, payload: notATimer }));
  assert.equal(badTimer.status, 422);
  const badLocs = (badTimer.body.detail as Json[]).map((p) => (p.loc as string[]).join('.'));
  assert.ok(badLocs.includes('body.timer.schedule.interval_seconds'), badLocs.join(', '));
  assert.ok(
    (badTimer.body.detail as Json[]).every((p) => Array.isArray(p.loc) && typeof p.msg === 'string' && typeof p.type === 'string'),
    JSON.stringify(badTimer.body),
  );

  // A bad PATCH of a real job: 422, and the job is untouched.
  const made = await createJob({
    callback_url: ap.runUrl,
    callback_body: { body: {} },
    start: naiveUtc(Date.now() + 86_400_000),
    interval: 3600,
    name: 'kept',
  });
  assert.equal(made.status, 201);
  const badPatch = await read(await timers.jobs.patch(made.body.job_id, { headers, payload: { name: 5 as unknown as string } }));
  assert.equal(badPatch.status, 422);
  assert.deepEqual(badPatch.body.detail[0].loc, ['body', 'name']);
  assert.equal((await read(await timers.jobs.get(made.body.job_id, { headers }))).body.name, 'kept');

  // No token, a wrong one, the right one without "Bearer": 401 with a JSON body, for reads and writes alike.
  for (const [what, h] of [
    ['no token', {}],
    ['a wrong token', { Authorization: 'Bearer not-the-token' }],
    ['the bare token', { Authorization: headers.Authorization.replace(/^Bearer /, '') }],
  ] as const) {
    for (const res of [
      await timers.jobs.getAll({ headers: h }),
      await timers.jobs.get(made.body.job_id, { headers: h }),
      await timers.jobs.pause(made.body.job_id, { headers: h }),
    ]) {
      const a = await read(res);
      assert.equal(a.status, 401, what);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer');
      assert.equal(a.body.code, 'AuthenticationFailed');
      assert.match(a.body.message, /globus-timer api token/);
    }
    assert.equal((await createJob({}, h)).status, 401, `${what}: 401 before the body is judged`);
  }
  assert.equal((await read(await timers.jobs.get(made.body.job_id, { headers }))).body.status, 'loaded', 'the refused pause changed nothing');
});

test('the same job through both doors: made by the API, seen and deleted by the CLI; made by the CLI, seen and paused by the API', async (t) => {
  const { ap, headers, cli, createJob, get } = await setUp(t);

  // API → CLI.
  const made = await createJob({
    callback_url: ap.runUrl,
    callback_body: { body: { from: 'api' } },
    start: naiveUtc(Date.now() + 86_400_000),
    interval: 3600,
    name: 'made by the api',
  });
  assert.equal(made.status, 201);
  const apiId = made.body.job_id as string;
  const seen = (JSON.parse(await cli('job', 'list', '--format', 'json')) as JobDocument[]).find((j) => j.job_id === apiId);
  assert.ok(seen, '`job list` shows the job the API made');
  assert.equal(seen.name, 'made by the api');
  assert.equal(seen.callback_url, ap.runUrl);
  assert.deepEqual(seen.callback_body, { body: { from: 'api' } });
  assert.equal(seen.interval, 3600);
  assert.equal(seen.start, made.body.start);
  assert.match(await cli('job', 'delete', apiId), /^Status: +deleted$/m);
  assert.equal((await get(apiId)).body.status, 'deleted', 'deleted by the CLI: deleted through the API');
  assert.equal((await read(await timers.jobs.pause(apiId, { headers }))).status, 404);
  assert.ok(!(await read(await timers.jobs.getAll({ headers }))).body.jobs.some((j: Json) => j.job_id === apiId), 'and no longer listed');

  // CLI → API.
  const submitted = JSON.parse(
    await cli(
      'job',
      'submit',
      '--name',
      'made by the cli',
      '--interval',
      '3600',
      '--start',
      new Date(Date.now() + 86_400_000).toISOString(),
      '--action-url',
      ap.runUrl,
      '--action-body',
      '{"body": {"from": "cli"}}',
      '--format',
      'json',
    ),
  ) as JobDocument;
  const cliId = submitted.job_id;
  const listed = ((await read(await timers.jobs.getAll({ headers }))).body.jobs as Json[]).find((j) => j.job_id === cliId);
  assert.ok(listed, 'GET /jobs shows the job the CLI made');
  assert.equal(listed.name, 'made by the cli');
  assert.equal(listed.timer_type, 'generic');
  assert.equal(listed.status, 'loaded');
  assert.equal(listed.interval, 3600);
  assert.equal(listed.next_run, submitted.next_run);
  assert.deepEqual(listed.callback_body, { body: { from: 'cli' } });

  const paused = await read(await timers.jobs.pause(cliId, { headers }));
  assert.equal(paused.status, 200);
  const status = JSON.parse(await cli('job', 'status', cliId, '--format', 'json')) as JobDocument;
  assert.equal(status.status, 'inactive', '`job status` sees the pause the API made');
  assert.equal(status.inactive_reason?.cause, 'user');
  assert.match(await cli('job', 'status', cliId), /^Status: +inactive$/m);
  // And back: the CLI resumes it, the API sees it loaded.
  await cli('job', 'resume', cliId);
  assert.equal((await get(cliId)).body.status, 'loaded');
});
