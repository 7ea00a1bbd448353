/**
 * Where a Globus token may go (issue 11 item 1, auth/token-rules.ts): a hostile Action
 * Provider must not choose which of the user's tokens it gets, no Globus token goes over
 * plain http unless allowed, and jobs that already exist are held to the same rules when a
 * run is sent. Real daemons, the real CLI, a fake Globus Auth and loopback providers.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { TRANSFER_SCOPE } from '../src/core/scopes.ts';
import { ALLOW_HTTP_TOKENS_ENV, globusServiceOf, STRICT_TOKEN_RULES, tokenDestinationRefusal, tokenRulesFromEnv } from '../src/auth/token-rules.ts';
import type { TokenProvider } from '../src/auth/tokens.ts';
import type { CliIo } from '../src/cli/context.ts';
import { runCli } from '../src/cli/main.ts';
import { startDaemon, type Daemon } from '../src/daemon/daemon.ts';
import { insertJob } from '../src/daemon/store/jobs.ts';
import { ERROR_CODES } from '../src/core/errors.ts';
import { silentLogger } from '../src/log/logger.ts';
import { RpcClient } from '../src/contract/client.ts';
import type { JobDocument } from '../src/contract/protocol.ts';
import { startFakeAuth } from './support/auth.ts';
import { runCliProcess, startDaemonProcess, tempHome, TEST_TOKEN_RULES, testConfig } from './support/env.ts';
import { startFakeProvider, type FakeProvider } from './support/provider.ts';

const TIMERS_SCOPE = 'https://auth.globus.org/scopes/524230d7-ea86-4a52-8312-86065a9e0417/timer';
const FLOWS_SCOPE = 'https://auth.globus.org/scopes/eec9b274-0c81-4334-bdc2-54e90e689b9a/manage_flows';
const OWN_SCOPE = 'https://auth.globus.org/scopes/000a11ce-0000-1000-8000-0000000000aa/action_all';

test('a Globus service scope belongs to its service, whatever its spelling; other scopes to none', () => {
  for (const [scope, service] of [
    [TRANSFER_SCOPE, 'Globus Transfer'],
    [`${TRANSFER_SCOPE}[*https://auth.globus.org/scopes/000a11ce-0000-1000-8000-000000000001/data_access]`, 'Globus Transfer'],
    ['URN:GLOBUS:AUTH:SCOPE:TRANSFER.API.GLOBUS.ORG:ALL', 'Globus Transfer'],
    ['https://auth.globus.org/scopes/transfer.api.globus.org/all', 'Globus Transfer'],
    ['openid', 'Globus Auth'],
    ['email', 'Globus Auth'],
    ['urn:globus:auth:scope:auth.globus.org:view_identities', 'Globus Auth'],
    [TIMERS_SCOPE, 'Globus Timers'],
    [FLOWS_SCOPE, 'Globus Flows'],
    ['urn:globus:auth:scope:groups.api.globus.org:all', 'Globus Groups'],
    ['urn:globus:auth:scope:search.api.globus.org:ingest', 'Globus Search'],
    ['https://auth.globus.org/scopes/actions.globus.org/transfer/transfer', 'the legacy Globus Automate Transfer provider'],
  ] as const) {
    assert.equal(globusServiceOf(scope)?.name, service, scope);
  }
  assert.equal(globusServiceOf(OWN_SCOPE), null);
  assert.equal(globusServiceOf('https://auth.globus.org/scopes/000a11ce-0000-1000-8000-0000000000bb/flow_000a11ce_user'), null);
});

test("a Globus service's token goes only to its own hosts, over https", () => {
  const refused = (scope: string, url: string, rules = STRICT_TOKEN_RULES) => tokenDestinationRefusal(scope, url, rules);
  assert.equal(refused(TRANSFER_SCOPE, 'https://transfer.actions.globus.org/transfer/run'), null);
  assert.equal(refused(TRANSFER_SCOPE, 'https://TRANSFER.actions.globus.org/transfer/run'), null);
  assert.match(
    refused(TRANSFER_SCOPE, 'https://actions.example.org/run')!,
    /Globus Transfer .*goes only to transfer\.api\.globus\.org, transfer\.actions\.globus\.org, not to actions\.example\.org/,
  );
  // A look-alike host, a port, a user-info trick: none is Transfer's host.
  assert.notEqual(refused(TRANSFER_SCOPE, 'https://transfer.actions.globus.org.evil.example/run'), null);
  assert.notEqual(refused(TRANSFER_SCOPE, 'https://transfer.actions.globus.org:8443/run'), null);
  assert.notEqual(refused(TRANSFER_SCOPE, 'https://transfer.actions.globus.org@evil.example/run'), null);
  assert.notEqual(refused('openid', 'https://actions.example.org/run'), null);
  assert.notEqual(refused(TIMERS_SCOPE, 'https://transfer.actions.globus.org/transfer/run'), null, "Transfer's host is not the Timers service");
  assert.equal(refused(TIMERS_SCOPE, 'https://timer.automate.globus.org/jobs/'), null);
  // Any other scope may go to any https host: the user named or confirmed it.
  assert.equal(refused(OWN_SCOPE, 'https://actions.example.org/run'), null);
  // Plain http: never, loopback included, unless allowed.
  assert.match(refused(OWN_SCOPE, 'http://127.0.0.1:8080/run')!, new RegExp(`plain http .*${ALLOW_HTTP_TOKENS_ENV}=1`));
  assert.equal(refused(OWN_SCOPE, 'http://127.0.0.1:8080/run', TEST_TOKEN_RULES), null);
  assert.notEqual(refused(TRANSFER_SCOPE, 'http://127.0.0.1:8080/run', TEST_TOKEN_RULES), null, 'allowing http does not unbind a service token');
});

test('overrides and Globus environments name the hosts the way the Globus SDKs do', () => {
  const rules = tokenRulesFromEnv({
    GLOBUS_TIMER_TRANSFER_ACTION_URL: 'http://127.0.0.1:4567/transfer/run',
    GLOBUS_SDK_SERVICE_URL_TIMERS: 'https://timers.test.example:8443/',
    [ALLOW_HTTP_TOKENS_ENV]: '1',
  });
  assert.equal(tokenDestinationRefusal(TRANSFER_SCOPE, 'http://127.0.0.1:4567/transfer/run', rules), null);
  assert.notEqual(tokenDestinationRefusal(TRANSFER_SCOPE, 'http://127.0.0.1:4568/transfer/run', rules), null, 'another port is another host');
  assert.equal(tokenDestinationRefusal(TIMERS_SCOPE, 'https://timers.test.example:8443/jobs/', rules), null);
  const sandbox = tokenRulesFromEnv({ GLOBUS_SDK_ENVIRONMENT: 'sandbox' });
  assert.equal(tokenDestinationRefusal(TRANSFER_SCOPE, 'https://transfer.actions.sandbox.globuscs.info/transfer/run', sandbox), null);
  assert.equal(tokenDestinationRefusal(TIMERS_SCOPE, 'https://sandbox.timer.automate.globus.org/jobs/', sandbox), null);
  assert.notEqual(tokenDestinationRefusal(TRANSFER_SCOPE, 'https://transfer.actions.globus.org.sandbox.example/run', sandbox), null);
  for (const off of ['', '0', 'false', 'no']) assert.equal(tokenRulesFromEnv({ [ALLOW_HTTP_TOKENS_ENV]: off }).allowHttpTokens, false, off);
});

/** A user logged in with the usual consents (Transfer among them), and a hostile provider on loopback. */
async function loggedInWorld(t: TestContext) {
  const auth = await startFakeAuth();
  t.after(() => auth.close());
  const hostile = await startFakeProvider();
  t.after(() => hostile.close());
  const { env: base } = tempHome(t);
  const env: NodeJS.ProcessEnv = { ...base, GLOBUS_SDK_SERVICE_URL_AUTH: auth.baseUrl, GLOBUS_TIMER_NO_AUTOSTART: '1' };
  const login = async (extraArgs: string[] = []) => {
    const r = await runCliProcess(['session', 'login', '--no-browser', ...extraArgs], env, (stdout) => {
      const url = /https?:\/\/\S+\/v2\/oauth2\/authorize\?\S+/.exec(stdout)?.[0];
      return url ? auth.approve(url) : undefined;
    });
    assert.equal(r.code, 0, r.stderr);
  };
  await login();
  return { auth, hostile, env, login };
}

function assertNoTokenSent(provider: FakeProvider): void {
  const carrying = provider.requests.filter((r) => r.headers.authorization !== undefined);
  assert.deepEqual(
    carrying.map((r) => `${r.method} ${r.path}`),
    [],
    'a request carried a bearer token',
  );
}

test("a provider that names the user's Transfer or Auth scope gets no job and no token", async (t) => {
  const { hostile, env } = await loggedInWorld(t);
  await startDaemonProcess(t, env);
  for (const scope of [TRANSFER_SCOPE, 'openid', `${TRANSFER_SCOPE}[*https://auth.globus.org/scopes/000a11ce-0000-1000-8000-000000000001/data_access]`]) {
    hostile.introspectionScope = scope;
    const r = await runCliProcess(
      ['job', 'submit', '--name', 'innocent', '--interval', '1', '--action-url', hostile.runUrl, '--action-body', '{"body":{}}'],
      env,
    );
    assert.equal(r.code, 2, `${scope}: ${r.stderr}`);
    assert.match(
      r.stderr,
      /^globus-timer: a token for Globus (Transfer|Auth) \(scope .*\) goes only to .*, not to 127\.0\.0\.1:\d+; give the provider's own scope with --scope, or --no-scope\n$/,
    );
    // Named by the user, the same scope is refused all the same: the binding is absolute.
    const named = await runCliProcess(
      ['job', 'submit', '--name', 'innocent', '--interval', '1', '--action-url', hostile.runUrl, '--action-body', '{"body":{}}', '--scope', scope],
      env,
    );
    assert.equal(named.code, 2, named.stderr);
  }
  const list = await runCliProcess(['job', 'list', '--format', 'json'], env);
  assert.deepEqual(JSON.parse(list.stdout), []);
  assert.ok(hostile.requests.length > 0, 'the provider was introspected');
  assertNoTokenSent(hostile);
});

test("a provider's own scope is used only when the user names it or confirms it at a terminal", async (t) => {
  const { hostile, env, login } = await loggedInWorld(t);
  hostile.introspectionScope = OWN_SCOPE;
  await startDaemonProcess(t, env);
  const submit = [
    'job',
    'submit',
    '--name',
    'own scope',
    '--interval',
    '1h',
    '--start',
    '2099-01-01',
    '--action-url',
    hostile.runUrl,
    '--action-body',
    '{"body":{}}',
  ];

  // In a script: exit 2, saying how to accept it; nothing submitted.
  const script = await runCliProcess(submit, env);
  assert.equal(script.code, 2, script.stderr);
  const host = new URL(hostile.baseUrl).host;
  assert.equal(
    script.stderr,
    `globus-timer: the provider at ${host} asks for a token for scope ${OWN_SCOPE}; to send it one on every run, give --scope ${OWN_SCOPE} (or --no-scope to send none)\n`,
  );

  // At a terminal: shown the host and the scope; "n" submits nothing, "y" goes on to consent.
  const answers: string[] = [];
  const prompts: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    out: () => {},
    err: (text) => err.push(text),
    env,
    interactive: true,
    readLine: async (prompt) => {
      prompts.push(prompt);
      return answers.shift() ?? null;
    },
  };
  answers.push('n');
  assert.equal(await runCli(submit, io), 2);
  assert.match(prompts[0]!, new RegExp(`Send ${host.replace(/\./g, '\\.')} your token for this scope\\? \\[y/N\\]`));
  assert.ok(
    err.some((e) => e.includes(OWN_SCOPE) && e.includes(host)),
    err.join('\n'),
  );
  assert.match(err.at(-1)!, /not submitted: the scope was not accepted/);
  const none = await runCliProcess(['job', 'list', '--format', 'json'], env);
  assert.deepEqual(JSON.parse(none.stdout), []);

  // "y": accepted; the user has no consent for this scope yet, so the login starts next
  // (its code prompt gets no answer here, which ends the command).
  answers.push('y');
  err.length = 0;
  assert.notEqual(await runCli(submit, io), 0);
  assert.ok(
    err.some((e) => e.includes(`needs your consent to ${OWN_SCOPE}`)),
    err.join('\n'),
  );

  // Named with --scope by a user who has consented: submitted without a question.
  await login(['--scope', OWN_SCOPE]);
  const named = await runCliProcess([...submit, '--scope', OWN_SCOPE, '--format', 'json'], env);
  assert.equal(named.code, 0, named.stderr);
  assert.equal((JSON.parse(named.stdout) as JobDocument).scope, OWN_SCOPE);
  assertNoTokenSent(hostile);
});

/** A job as an older globus-timer (or a client that skipped the checks) left it in the database, due now. */
function plantJob(daemon: Daemon, callbackUrl: string, scope: string): string {
  const now = Date.now();
  const id = randomUUID();
  insertJob(daemon.db, {
    id,
    name: 'planted',
    startAtMs: now,
    intervalSeconds: 3600,
    scope,
    callbackUrl,
    callbackBody: { body: {} },
    status: 'loaded',
    submittedAtMs: now,
    nextSlotIndex: 0,
    nextRunAtMs: now,
    updatedAtMs: now,
  });
  daemon.scheduler.reschedule();
  return id;
}

/** A token source that would hand out a token for any scope: the rules, not a missing consent, must stop it. */
const ANY_TOKEN: TokenProvider = { getToken: async () => 'sekrit-access-token' };

async function waitForInactive(daemon: Daemon, jobId: string): Promise<JobDocument> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const doc = daemon.service.get(jobId);
    if (doc.status === 'inactive') return doc;
    if (Date.now() > deadline) throw new Error(`job ${jobId} is still ${doc.status}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a job that already exists sends no token where the rules forbid it: it fails its run and waits for the user', async (t) => {
  const hostile = await startFakeProvider();
  t.after(() => hostile.close());
  const { paths, env } = tempHome(t);
  const daemon = await startDaemon({ paths, config: testConfig(), log: silentLogger(), tokens: ANY_TOKEN, tokenRules: TEST_TOKEN_RULES });
  t.after(() => daemon.stop());

  const jobId = plantJob(daemon, hostile.runUrl, TRANSFER_SCOPE);
  const doc = await waitForInactive(daemon, jobId);
  assert.equal(doc.inactive_reason?.cause, 'token_destination');
  assert.match(String(doc.inactive_reason?.detail), /goes only to .*; delete the job and submit it again$/);
  const [run] = daemon.service.history({ job_id: jobId }).runs;
  assert.equal(run?.errors?.code, 'TOKEN_DESTINATION_REFUSED');
  assert.equal(hostile.requests.length, 0, 'nothing was sent to the provider');
  // `job status` says why and what to do, in one line.
  const out: string[] = [];
  const io: CliIo = { out: (text) => out.push(text), err: () => {}, env: { ...env, GLOBUS_TIMER_NO_AUTOSTART: '1' } };
  assert.equal(await runCli(['job', 'status', jobId], io), 0);
  assert.match(
    out.join('\n'),
    /^Inactive Reason: +the job's token may not go to its URL: a token for Globus Transfer \(scope .*\) goes only to .*; delete the job and submit it again$/m,
  );
  // Resuming it would only stop it again: refused, saying why.
  assert.throws(
    () => daemon.service.resume(jobId),
    (e: Error & { code?: string }) => e.code === ERROR_CODES.INVALID_INPUT && /goes only to/.test(e.message),
  );

  // The provider's own scope over plain http: refused under the strict rules, sent when allowed.
  const strict = tempHome(t);
  const strictDaemon = await startDaemon({ paths: strict.paths, config: testConfig(), log: silentLogger(), tokens: ANY_TOKEN, tokenRules: STRICT_TOKEN_RULES });
  t.after(() => strictDaemon.stop());
  const httpJob = plantJob(strictDaemon, hostile.runUrl, OWN_SCOPE);
  assert.match(String((await waitForInactive(strictDaemon, httpJob)).inactive_reason?.detail), /plain http/);
  assert.equal(hostile.requests.length, 0);
  plantJob(daemon, hostile.runUrl, OWN_SCOPE);
  const [sent] = await hostile.waitForRuns(1);
  assert.equal(sent!.headers.authorization, 'Bearer sekrit-access-token');
});

test('the daemon refuses a job.submit whose token may not go to its URL, from any client', async (t) => {
  const { paths } = tempHome(t);
  const daemon = await startDaemon({ paths, config: testConfig(), log: silentLogger(), tokenRules: STRICT_TOKEN_RULES });
  t.after(() => daemon.stop());
  const client = await RpcClient.connect(paths.socketPath);
  t.after(() => client.close());
  const submit = (callback_url: string, scope: string | null) =>
    client.call('job.submit', { name: 'x', interval_seconds: 60, callback_url, callback_body: { body: {} }, scope });
  for (const [url, scope, why] of [
    ['https://actions.example.org/run', TRANSFER_SCOPE, /goes only to/],
    ['https://actions.example.org/run', 'profile', /Globus Auth .*goes only to auth\.globus\.org/],
    ['http://127.0.0.1:9/run', OWN_SCOPE, /plain http/],
  ] as const) {
    await assert.rejects(
      submit(url, scope),
      (e: Error & { code?: string }) => e.code === ERROR_CODES.INVALID_INPUT && why.test(e.message),
      `${scope} to ${url}`,
    );
  }
  assert.equal((await client.call('job.list', {})).jobs.length, 0);
  // Without a scope no token is sent, so any allowed URL will do; a Globus scope to its own host too.
  await submit('http://127.0.0.1:9/run', null);
  await submit('https://transfer.actions.globus.org/transfer/run', TRANSFER_SCOPE);
  assert.equal((await client.call('job.list', {})).jobs.length, 2);
});
