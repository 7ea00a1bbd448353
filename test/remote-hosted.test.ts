/**
 * Issue 15, `--service hosted`: the CLI against a loopback stand-in of the Globus Timers
 * service that answers with the recorded payloads (shared/reference/globus-sdk/timer/*.json),
 * found as the Globus SDKs find it (GLOBUS_SDK_SERVICE_URL_TIMERS), with the Timers scope's
 * token from the token cache, which a fake Globus Auth issued and refreshes.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { JobDocument } from '../src/contract/protocol.ts';
import { ALLOW_HTTP_TOKENS_ENV } from '../src/auth/token-rules.ts';
import { formatScope, TIMERS_SCOPE, TRANSFER_SCOPE } from '../src/core/scopes.ts';
import { startFakeAuth, type FakeAuth } from './support/auth.ts';
import { ROOT, runCliProcess, tempHome, type CliResult } from './support/env.ts';

const RECORDED = path.join(ROOT, '..', 'shared', 'reference', 'globus-sdk', 'timer');
const JOB_ID = '000a11ce-0000-1000-8000-000000000001';

interface RecordedResponse {
  method: string;
  path: string;
  status: number;
  json: unknown;
}

/** `responses[name]` of a recorded file, e.g. recorded('get_job', 'inactive_user'). */
function recorded(file: string, name = 'default'): RecordedResponse {
  const doc = JSON.parse(fs.readFileSync(path.join(RECORDED, `${file}.json`), 'utf8')) as { responses: Record<string, RecordedResponse> };
  const r = doc.responses[name];
  if (!r) throw new Error(`no response ${name} in ${file}.json`);
  return r;
}

interface Seen {
  method: string;
  path: string;
  body: unknown;
  bearer: string | null;
}

/** The stand-in: each recorded response at its method and path, for a Timers token the fake Auth issued; 401 otherwise. */
async function startHostedStandIn(t: TestContext, auth: FakeAuth) {
  const seen: Seen[] = [];
  const answers = new Map<string, RecordedResponse>();
  /** Statuses to answer first, in order, by `METHOD /path` (the Retry-After of each is 0). */
  const failFirst = new Map<string, number[]>();
  for (const [file, name] of [
    ['list_jobs', 'default'],
    ['get_job', 'default'],
    ['update_job', 'default'],
    ['pause_job', 'default'],
    ['resume_job', 'default'],
    ['delete_job', 'default'],
    ['create_job', 'default'],
    ['create_timer', 'default'],
  ] as const) {
    const r = recorded(file, name);
    answers.set(`${r.method} ${r.path}`, r);
  }
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString('utf8')));
    req.on('end', () => {
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? null;
      const url = new URL(req.url ?? '/', 'http://x');
      seen.push({ method: req.method ?? '', path: url.pathname + url.search, body: text ? JSON.parse(text) : undefined, bearer });
      const reply = (status: number, json: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(json));
      };
      if (!auth.accepts(bearer ?? undefined, TIMERS_SCOPE)) return reply(401, { code: 'AuthenticationFailed', message: 'Authentication failed' });
      // The SDK asks for /jobs (no slash) where the recordings say /jobs/.
      const p = url.pathname === '/jobs' ? '/jobs/' : url.pathname;
      const failure = failFirst.get(`${req.method} ${p}`)?.shift();
      if (failure !== undefined) {
        res.setHeader('retry-after', '0');
        return reply(failure, { code: 'ServiceUnavailable', message: 'try later' });
      }
      const answer = answers.get(`${req.method} ${p}`);
      if (!answer) return reply(404, { detail: 'Not Found' });
      reply(answer.status, answer.json);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, answers, failFirst };
}

async function setUp(t: TestContext) {
  const auth = await startFakeAuth();
  t.after(() => auth.close());
  const hosted = await startHostedStandIn(t, auth);
  const { env: base } = tempHome(t);
  const env: NodeJS.ProcessEnv = {
    ...base,
    GLOBUS_SDK_SERVICE_URL_AUTH: auth.baseUrl,
    GLOBUS_SDK_SERVICE_URL_TIMERS: hosted.url,
    // The stand-in is plain http on loopback; the real service is https.
    [ALLOW_HTTP_TOKENS_ENV]: '1',
    GLOBUS_TIMER_NO_AUTOSTART: '1',
    GLOBUS_TIMER_SERVICE: 'hosted',
    // Where `job transfer` points its jobs; nothing listens there (the CLI's look at its introspection document fails at once).
    GLOBUS_TIMER_TRANSFER_ACTION_URL: 'http://127.0.0.1:9/transfer/run',
  };
  const login = async (scopes: string[]) => {
    const r = await runCliProcess(['session', 'login', '--no-browser', ...scopes.flatMap((s) => ['--scope', s])], env, (stdout) => {
      const url = /https?:\/\/\S+\/v2\/oauth2\/authorize\?\S+/.exec(stdout)?.[0];
      return url ? auth.approve(url) : undefined;
    });
    assert.equal(r.code, 0, r.stderr);
  };
  const cli = (...args: string[]) => runCliProcess(args, env);
  const ok = async (...args: string[]) => {
    const r = await cli(...args);
    assert.equal(r.code, 0, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    return r.stdout;
  };
  return { auth, hosted, env, login, cli, ok };
}

function assertExit(r: CliResult, code: number, what: string): void {
  assert.equal(r.code, code, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

test('--service hosted: the recorded documents read as jobs, each command makes its call with the Timers token', async (t) => {
  const { auth, hosted, login, cli, ok } = await setUp(t);

  // No token for the Timers scope yet: one line saying how to get one, nothing sent.
  const before = await cli('job', 'list');
  assertExit(before, 1, 'job list before login');
  assert.match(
    before.stderr,
    /^globus-timer: no consent for scope https:\/\/auth\.globus\.org\/scopes\/524230d7-ea86-4a52-8312-86065a9e0417\/timer; run: globus-timer session login --scope 'https:\/\/auth\.globus\.org\/scopes\/524230d7-ea86-4a52-8312-86065a9e0417\/timer'\n$/,
  );
  assert.equal(hosted.seen.length, 0);

  await login([TIMERS_SCOPE]);
  const list = JSON.parse(await ok('job', 'list', '--format', 'json')) as JobDocument[];
  assert.deepEqual(
    list.map((j) => [j.job_id, j.name, j.status, j.interval]),
    [[JOB_ID, 'example timer', 'loaded', 864000]],
  );
  const bearer = hosted.seen.at(-1)?.bearer;
  assert.ok(bearer && auth.accepts(bearer, TIMERS_SCOPE), 'a Timers token from the cache');
  assert.deepEqual(
    hosted.seen.map((s) => `${s.method} ${s.path}`),
    ['GET /jobs'],
  );

  const status = await ok('job', 'status', JOB_ID);
  assert.match(status, /^Name: +example timer\nJob ID: +000a11ce-0000-1000-8000-000000000001\nStatus: +loaded\n/);
  assert.match(status, /\nInterval: +10 days, 0:00:00\n/, 'the recorded interval 864000.0 s');

  hosted.seen.length = 0;
  await ok('job', 'pause', JOB_ID);
  await ok('job', 'resume', JOB_ID);
  await ok('job', 'update', JOB_ID, '--name', 'updated name');
  await ok('job', 'delete', JOB_ID);
  const calls = hosted.seen.map((s) => `${s.method} ${s.path}`);
  for (const call of [`POST /jobs/${JOB_ID}/pause`, `POST /jobs/${JOB_ID}/resume`, `PATCH /jobs/${JOB_ID}`, `DELETE /jobs/${JOB_ID}`]) {
    assert.ok(calls.includes(call), `${call} in ${calls.join(', ')}`);
  }
  assert.deepEqual(hosted.seen.find((s) => s.method === 'PATCH')?.body, { name: 'updated name' });

  // What the hosted service cannot do is refused before anything is sent, naming its limit.
  hosted.seen.length = 0;
  const interval = await cli('job', 'update', JOB_ID, '--interval', '3600');
  assertExit(interval, 2, 'update --interval');
  assert.match(interval.stderr, /the Globus Timers service at http:\/\/127\.0\.0\.1:\d+ has no changing interval_seconds \(it changes only a timer's name\)/);
  const fast = await cli(
    'job',
    'submit',
    '--name',
    'fast',
    '--action-url',
    'http://127.0.0.1:9/run',
    '--action-body',
    '{"body":{}}',
    '--interval',
    '30',
    '--no-scope',
  );
  assertExit(fast, 2, 'an interval under a minute');
  assert.match(fast.stderr, /runs a timer at most once a minute: give --interval 60 or more/);
  assert.ok(
    hosted.seen.every((s) => s.method === 'GET'),
    'nothing was changed',
  );

  // A TimerJob to POST /jobs/, with the keys the recorded create_job request has.
  hosted.seen.length = 0;
  await ok(
    'job',
    'submit',
    '--name',
    'made',
    '--action-url',
    'http://127.0.0.1:9/run',
    '--action-body',
    '{"body":{"k":1}}',
    '--interval',
    '3600',
    '--no-scope',
  );
  const create = hosted.seen.find((s) => s.method === 'POST' && s.path === '/jobs/');
  assert.ok(create, hosted.seen.map((s) => `${s.method} ${s.path}`).join(', '));
  assert.deepEqual(Object.keys(create.body as object).sort(), ['callback_body', 'callback_url', 'interval', 'name', 'start']);
  assert.match((create.body as { start: string }).start, /\+00:00$/);
});

test('--service hosted: a job transfer is a TransferTimer to POST /v2/timer; an expired token is refreshed; a 500 is one line', async (t) => {
  const { auth, hosted, login, cli, ok } = await setUp(t);
  await login([TIMERS_SCOPE]);
  const transferArgs = [
    'job',
    'transfer',
    '--name',
    'nightly',
    '--source-endpoint',
    'ddb59aef-6d04-11e5-ba46-22000b92c6ec',
    '--dest-endpoint',
    'ddb59af0-6d04-11e5-ba46-22000b92c6ec',
    '--item',
    '/src',
    '/dst',
    'true',
    '--interval',
    '86400',
    '--stop-after-runs',
    '5',
  ];
  // The hosted service runs a transfer with dependent tokens: the Timers scope must carry the
  // Transfer scope as a dependency (as globus-cli asks for it). Without it: one line, nothing sent.
  const dependent = formatScope(TIMERS_SCOPE, [TRANSFER_SCOPE]);
  const unconsented = await cli(...transferArgs);
  assertExit(unconsented, 1, 'a transfer without the dependent consent');
  assert.ok(unconsented.stderr.includes(`globus-timer session login --scope '${dependent}'`), unconsented.stderr);
  assert.ok(!hosted.seen.some((s) => s.method === 'POST'));
  await login([dependent]);

  const made = JSON.parse(await ok(...transferArgs, '--format', 'json')) as JobDocument;
  // The recorded reply's job, read back (GET /jobs/{id}).
  assert.equal(made.job_id, (recorded('create_timer').json as { timer: { job_id: string } }).timer.job_id);
  const sent = hosted.seen.find((s) => s.method === 'POST' && s.path === '/v2/timer')?.body as { timer: Record<string, unknown> };
  assert.ok(sent);
  assert.equal(sent.timer.timer_type, 'transfer');
  assert.equal(sent.timer.name, 'nightly');
  assert.deepEqual(Object.keys(sent.timer.schedule as object).sort(), ['end', 'interval_seconds', 'start', 'type']);
  assert.deepEqual((sent.timer.schedule as { end: unknown }).end, { condition: 'iterations', count: 5 });
  const body = sent.timer.body as Record<string, unknown>;
  assert.equal(body.DATA_TYPE, 'transfer');
  assert.equal(body.source_endpoint, 'ddb59aef-6d04-11e5-ba46-22000b92c6ec');
  // The recorded TransferTimer's body keys that every transfer has are all there.
  const recordedBody = (recorded('create_timer').json as { timer: { body: Record<string, unknown> } }).timer.body;
  for (const key of ['DATA', 'DATA_TYPE', 'destination_endpoint', 'source_endpoint']) assert.ok(key in recordedBody && key in body, key);

  // The access token expires: the next command refreshes it (as the daemon would) and goes on.
  const refreshes = auth.grants.refresh_token;
  auth.expireAccessTokens();
  await ok('job', 'list');
  assert.equal(auth.grants.refresh_token, refreshes + 1);

  // Busy for a moment: a read is retried (as the Globus SDKs retry), and goes through.
  hosted.failFirst.set('GET /jobs/', [503, 429]);
  hosted.seen.length = 0;
  await ok('job', 'list');
  assert.equal(hosted.seen.filter((s) => s.method === 'GET').length, 3);
  // A create is never sent twice (a lost answer may still have made the timer): one try, exit 1.
  hosted.failFirst.set('POST /jobs/', [503]);
  hosted.seen.length = 0;
  const busy = await cli(
    'job',
    'submit',
    '--name',
    'x',
    '--action-url',
    'http://127.0.0.1:9/run',
    '--action-body',
    '{"body":{}}',
    '--interval',
    '3600',
    '--no-scope',
  );
  assertExit(busy, 1, 'a create answered 503');
  assert.match(busy.stderr, /^globus-timer: the Globus Timers service at http:\/\/127\.0\.0\.1:\d+ failed \(HTTP 503\): try later; try again later\n$/);
  assert.equal(hosted.seen.filter((s) => s.method === 'POST').length, 1);

  // A recorded 500: exit 1, one line with the service's own message (after the retries a read gets).
  hosted.answers.set(`GET /jobs/${JOB_ID}`, recorded('get_job', 'simple_500_error'));
  const failed = await cli('job', 'status', JOB_ID);
  assertExit(failed, 1, 'a 500');
  assert.match(
    failed.stderr,
    /^globus-timer: the Globus Timers service at http:\/\/127\.0\.0\.1:\d+ failed \(HTTP 500\): Request failed terribly; try again later\n$/,
  );
  // A reply of another shape: exit 1 naming the field, not a crash.
  hosted.answers.set(`GET /jobs/${JOB_ID}`, { method: 'GET', path: `/jobs/${JOB_ID}`, status: 200, json: { job_id: JOB_ID, name: 'x', status: 7 } });
  const odd = await cli('job', 'status', JOB_ID);
  assertExit(odd, 1, 'a reply without a status word');
  assert.match(
    odd.stderr,
    /^globus-timer: the Globus Timers service at http:\/\/127\.0\.0\.1:\d+ sent a reply this CLI cannot read: status is not a string\n$/,
  );
  // A recorded inactive job (cause user) reads as paused.
  hosted.answers.set(`GET /jobs/${JOB_ID}`, recorded('get_job', 'inactive_user'));
  const paused = JSON.parse(await ok('job', 'status', JOB_ID, '--format', 'json')) as JobDocument;
  assert.equal(paused.status, 'inactive');
  assert.equal(paused.inactive_reason?.cause, 'user');
});
