/**
 * Globus Auth end to end with real processes: the daemon and the CLI as subprocesses, a
 * fake Globus Auth and a fake Transfer Action Provider on loopback that only accepts
 * tokens the fake Auth issued. The user's side (pasting the code shown after logging in)
 * is played through the CLI's stdin.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test, type TestContext } from 'node:test';
import { TRANSFER_SCOPE } from '../src/core/scopes.ts';
import type { JobDocument } from '../src/contract/protocol.ts';
import { startFakeAuth, type FakeAuth } from './support/auth.ts';
import { fakeGlobusEnv, runCliProcess, startDaemonProcess, tempHome, type CliResult, type DaemonProcess } from './support/env.ts';
import { startControlJob } from './support/control-job.ts';
import { startFakeProvider, type FakeProvider, type RecordedRequest } from './support/provider.ts';
import { until } from './support/until.ts';

const SOURCE = '000a11ce-0000-1000-8000-000000000003';
const DEST = '000a11ce-0000-1000-8000-000000000002';

interface World {
  auth: FakeAuth;
  ap: FakeProvider;
  env: NodeJS.ProcessEnv;
  tokensFile: string;
  dbFile: string;
  /** Every CLI result, for the leak check. */
  outputs: CliResult[];
  cli(args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult>;
  login(extraArgs?: string[]): Promise<CliResult>;
}

async function world(t: TestContext, extraEnv: NodeJS.ProcessEnv = {}): Promise<World> {
  const auth = await startFakeAuth();
  t.after(() => auth.close());
  const ap = await startFakeProvider();
  t.after(() => ap.close());
  ap.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 1, final: 'SUCCEEDED' };
  ap.auth = { scope: TRANSFER_SCOPE, accepts: (token, scope) => auth.accepts(token, scope) };
  ap.introspectionScope = TRANSFER_SCOPE;
  const { env: base, paths } = tempHome(t);
  const env: NodeJS.ProcessEnv = {
    ...fakeGlobusEnv(base, { authUrl: auth.baseUrl, transferRunUrl: ap.runUrl }),
    GLOBUS_TIMER_TOKEN_REFRESH_MARGIN_MS: '1000',
    ...extraEnv,
  };
  const outputs: CliResult[] = [];
  const cli = async (args: string[], over = env) => {
    const r = await runCliProcess(args, over);
    outputs.push(r);
    return r;
  };
  const login = async (extraArgs: string[] = []) => {
    // The user opens the printed URL, logs in, and pastes the code Globus shows.
    const r = await runCliProcess(['session', 'login', '--no-browser', ...extraArgs], env, (stdout) => {
      const url = /https?:\/\/\S+\/v2\/oauth2\/authorize\?\S+/.exec(stdout)?.[0];
      return url ? auth.approve(url) : undefined;
    });
    outputs.push(r);
    return r;
  };
  return { auth, ap, env, tokensFile: paths.tokensFile, dbFile: paths.dbFile, outputs, cli, login };
}

function bearer(r: RecordedRequest): string | undefined {
  return /^Bearer (.+)$/.exec(String(r.headers.authorization ?? ''))?.[1];
}

function requestId(r: RecordedRequest): string {
  return (r.body as { request_id: string }).request_id;
}

async function jobDoc(w: World, jobId: string): Promise<JobDocument> {
  const r = await w.cli(['job', 'status', jobId, '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as JobDocument;
}

/** No token the fake Auth ever issued appears in any output, log or stored job document. */
function assertNoSecrets(w: World, daemon: DaemonProcess, extra: string[] = []): void {
  const haystack = [daemon.log(), ...w.outputs.flatMap((o) => [o.stdout, o.stderr]), ...extra].join('\n');
  const secrets = w.auth.issuedSecrets();
  assert.ok(secrets.length > 0);
  for (const secret of secrets) assert.equal(haystack.includes(secret), false, 'a token leaked into output or logs');
}

test("a user's first transfer job: consent required, login, job transfer, tokens refreshed before they expire", async (t) => {
  const w = await world(t);
  // Access tokens live 3 s and are refreshed 1 s before expiry: several refreshes between runs.
  w.auth.expiresInSeconds = 3;
  const daemon = await startDaemonProcess(t, w.env);
  const transferArgs = [
    'job',
    'transfer',
    '--name',
    'nightly backup',
    '--interval',
    '1',
    '--source-endpoint',
    SOURCE,
    '--dest-endpoint',
    DEST,
    '--item',
    '/data/',
    '/backup/',
    'true',
    '--sync-level',
    '3',
    '--verify-checksum',
  ];

  // Not logged in, not at a terminal: the command to run instead, and nothing submitted.
  const refused = await w.cli(transferArgs);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, new RegExp(`globus-timer session login --scope '${TRANSFER_SCOPE}'`));
  assert.equal(refused.stderr.trim().split('\n').length, 1);
  assert.equal((await w.cli(['job', 'list'])).stdout.split('\n').filter((l) => l.includes('nightly')).length, 0);

  const login = await w.login();
  assert.equal(login.code, 0, login.stderr);
  assert.match(login.stdout, /^Logged in as alice@example\.org$/m);
  assert.equal((fs.statSync(w.tokensFile).mode & 0o777).toString(8), '600');
  assert.equal(w.auth.grants.authorization_code, 1);
  const whoami = await w.cli(['session', 'whoami']);
  assert.equal(whoami.stdout.trim(), 'alice@example.org');

  const submitted = await w.cli([...transferArgs, '--format', 'json']);
  assert.equal(submitted.code, 0, submitted.stderr);
  const job = JSON.parse(submitted.stdout) as JobDocument;
  assert.equal(job.scope, TRANSFER_SCOPE);
  assert.equal(job.callback_url, w.ap.runUrl);

  const runs = await w.ap.waitForRuns(6, 30_000);
  const doc = await until('six finished runs', async () => {
    const d = await jobDoc(w, job.job_id);
    return d.results.data.filter((r) => r.completed_at).length >= 6 && d;
  });
  assert.equal(doc.status, 'loaded');
  assert.ok(
    doc.results.data.every((r) => r.run_state !== 'failed'),
    'no run failed',
  );
  // Refreshed ahead of expiry: no request was ever turned away (a refused one is re-sent with its request_id).
  assert.equal(new Set(runs.map(requestId)).size, runs.length, 'every request was accepted the first time');
  assert.ok(w.auth.grants.refresh_token >= 2, `refreshed ${w.auth.grants.refresh_token} times`);
  assert.ok(new Set(runs.map(bearer)).size >= 3, 'the provider saw fresh tokens');
  // The daemon wrote its refreshed tokens to the shared cache, still 0600.
  const cached = JSON.parse(fs.readFileSync(w.tokensFile, 'utf8')) as { tokens: Record<string, { access_token: string }> };
  assert.notEqual(cached.tokens['transfer.api.globus.org']?.access_token, bearer(runs[0]!), 'the cache holds a refreshed token');
  assert.equal((fs.statSync(w.tokensFile).mode & 0o777).toString(8), '600');
  // The body is the current Transfer action provider's.
  const body = (runs[0]!.body as { body: Record<string, unknown> }).body;
  assert.deepEqual(
    { ...body },
    {
      source_endpoint: SOURCE,
      destination_endpoint: DEST,
      DATA: [{ source_path: '/data/', destination_path: '/backup/', recursive: true }],
      label: 'Job from Timer service named nightly backup',
      sync_level: 3,
      encrypt_data: false,
      verify_checksum: true,
      preserve_timestamp: false,
      skip_source_errors: false,
      fail_on_quota_errors: false,
      // Transfer e-mails on every success unless told not to (issue 15 item 6).
      notify_on_succeeded: false,
    },
  );

  assert.equal((await w.cli(['job', 'delete', job.job_id])).code, 0);
  await w.cli(['job', 'status', job.job_id, '-v']);
  assertNoSecrets(w, daemon);
  await daemon.stop('SIGTERM');
  const stored = [w.dbFile, `${w.dbFile}-wal`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f).toString('latin1'));
  assertNoSecrets(w, daemon, stored);
});

test('a token Auth no longer honours: one forced refresh after the 401; a revoked login makes the job inactive until login and resume', async (t) => {
  const w = await world(t);
  // Synchronous actions: no status polls, so the first request with a stale token is a run request.
  w.ap.defaultRunReply = { kind: 'accept', httpStatus: 200, final: 'SUCCEEDED' };
  const daemon = await startDaemonProcess(t, w.env);
  assert.equal((await w.login()).code, 0);
  // No --scope: the CLI reads it from the provider's introspection document.
  const submitted = await w.cli([
    'job',
    'submit',
    '--name',
    'sync',
    '--interval',
    '1',
    '--action-url',
    w.ap.runUrl,
    '--action-body',
    '{"body": {"n": 1}}',
    '--format',
    'json',
  ]);
  assert.equal(submitted.code, 0, submitted.stderr);
  const job = JSON.parse(submitted.stdout) as JobDocument;
  assert.equal(job.scope, TRANSFER_SCOPE);
  await w.ap.waitForRuns(2, 20_000);

  // Auth expires the tokens early (the cache still thinks they are good): the provider says 401.
  // The first request to carry the stale token may be a run or the release that follows
  // one (every request with a token goes through the same refusal rule): it is repeated
  // once, with a refreshed token.
  w.auth.expireAccessTokens();
  const before = w.ap.requests.length;
  await w.ap.waitForRuns(w.ap.runRequests().length + 3, 20_000);
  const sinceExpiry = w.ap.requests.slice(before);
  const refusedAt = sinceExpiry.findIndex((r) => !w.auth.accepts(bearer(r), TRANSFER_SCOPE));
  assert.notEqual(refusedAt, -1, 'a request was sent with the expired token');
  const rejected = sinceExpiry[refusedAt]!;
  const same = (r: RecordedRequest) =>
    r.method === rejected.method && r.path === rejected.path && (r.path.endsWith('/run') ? requestId(r) === requestId(rejected) : true);
  const resent = sinceExpiry.filter(same);
  assert.equal(resent.length, 2, `the refused ${rejected.method} ${rejected.path} was repeated once (with the same request_id for a run)`);
  assert.notEqual(bearer(resent[1]!), bearer(resent[0]!));
  assert.ok(w.auth.accepts(bearer(resent[1]!), TRANSFER_SCOPE));
  assert.equal(w.auth.grants.refresh_token, 1, 'one refresh, shared by every run that needed it');
  assert.equal((await jobDoc(w, job.job_id)).status, 'loaded');

  // The user revokes the grant elsewhere: the refresh is refused and the job waits for them.
  w.auth.revokeAll();
  const inactive = await until('the job to go inactive', async () => {
    const d = await jobDoc(w, job.job_id);
    return d.status === 'inactive' && d;
  });
  assert.equal(inactive.inactive_reason?.cause, 'globus_auth_requirements');
  const detail = inactive.inactive_reason?.detail as { code: string; authorization_parameters: { required_scopes: string[] } };
  assert.equal(detail.code, 'LoginRequired');
  assert.deepEqual(detail.authorization_parameters.required_scopes, [TRANSFER_SCOPE]);
  assert.equal(inactive.next_run, null);
  const status = await w.cli(['job', 'status', job.job_id]);
  const fix = status.stdout.split('\n').filter((l) => l.startsWith('Inactive Reason:'));
  assert.equal(fix.length, 1, status.stdout);
  assert.match(fix[0]!, new RegExp(`globus-timer session login --scope '${TRANSFER_SCOPE.replace(/\./g, '\\.')}' && globus-timer job resume ${job.job_id}$`));
  const control = await startControlJob(t, (args) => w.cli(args));
  const inactiveAtMs = Date.now();
  const runsWhileInactive = w.ap.runRequests().length;
  // The inactive job's next slot would have been due within 1 s: by the control's run 2 s from now the daemon has decided
  // it, and a request for it would have been sent a second or more before the control's (test/support/control-job.ts).
  await control.firedAtOrAfter(inactiveAtMs + 2_000);
  assert.equal(w.ap.runRequests().length, runsWhileInactive, 'an inactive job does not fire');
  assert.equal((await jobDoc(w, job.job_id)).n_runs, inactive.n_runs, 'nor claims a slot');

  // The fix, as printed: log in again, then resume.
  assert.equal((await w.login(['--scope', TRANSFER_SCOPE])).code, 0);
  const resumed = await w.cli(['job', 'resume', job.job_id]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /^Status: +loaded$/m);
  const again = await w.cli(['job', 'resume', job.job_id]);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /is loaded, not inactive: nothing to resume/);
  const n = w.ap.runRequests().length;
  const later = await w.ap.waitForRuns(n + 2, 20_000);
  assert.ok(
    later.slice(n).every((r) => w.auth.accepts(bearer(r), TRANSFER_SCOPE)),
    'runs carry the new login',
  );
  assertNoSecrets(w, daemon);
});

test('headless: with a confidential client the daemon uses the client-credentials grant, no login needed', async (t) => {
  const w = await world(t, { GLOBUS_TIMER_CLIENT_ID: 'cc-client', GLOBUS_TIMER_CLIENT_SECRET: 'cc-secret' });
  const daemon = await startDaemonProcess(t, w.env);
  const submitted = await w.cli([
    'job',
    'submit',
    '--name',
    'headless',
    '--interval',
    '1',
    '--action-url',
    w.ap.runUrl,
    '--action-body',
    '{"body": {}}',
    '--format',
    'json',
  ]);
  assert.equal(submitted.code, 0, submitted.stderr);
  const runs = await w.ap.waitForRuns(3, 20_000);
  assert.ok(runs.every((r) => w.auth.accepts(bearer(r), TRANSFER_SCOPE)));
  assert.equal(w.auth.grants.client_credentials, 1, 'one grant, reused while valid');
  assert.equal(w.auth.grants.authorization_code, 0);
  assert.equal(fs.existsSync(w.tokensFile), false, 'client tokens stay in memory');
  const login = await w.cli(['session', 'login', '--no-browser']);
  assert.equal(login.code, 2);
  assert.match(login.stderr, /GLOBUS_TIMER_CLIENT_SECRET is set/);
  assertNoSecrets(w, daemon);
});
