/**
 * Consent at create (issue 14 item 5), end to end with real processes: a daemon serving the
 * REST API, a fake Globus Auth, a fake Transfer Action Provider that only accepts tokens
 * the fake Auth issued, and the CLI. A transfer timer made over the API while the token
 * cache has no consent for the Transfer scope is created `inactive` with cause
 * `globus_auth_requirements` and the scope to consent to, as the hosted service does;
 * `session login --scope …` and `job resume ID` bring it to life, and it runs with the
 * user's Transfer token.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { API_ADDR_ENV } from '../src/core/api-addr.ts';
import { TRANSFER_SCOPE } from '../src/core/scopes.ts';
import type { JobDocument } from '../src/contract/protocol.ts';
import { startFakeAuth } from './support/auth.ts';
import { fakeGlobusEnv, runCliProcess, startDaemonProcess, tempHome } from './support/env.ts';
import { startFakeProvider } from './support/provider.ts';
import { until } from './support/until.ts';
import { apiAccess, cliThatSucceeds } from './support/api.ts';

// biome-ignore lint/suspicious/noExplicitAny: API documents are read by key path; their shapes are asserted, not typed
type Json = Record<string, any>;

test('a transfer timer made over the API without consent is inactive; session login --scope and job resume bring it to life', async (t) => {
  const auth = await startFakeAuth();
  t.after(() => auth.close());
  const ap = await startFakeProvider();
  t.after(() => ap.close());
  ap.defaultRunReply = { kind: 'accept', httpStatus: 202, final: 'SUCCEEDED' };
  ap.auth = { scope: TRANSFER_SCOPE, accepts: (token, scope) => auth.accepts(token, scope) };
  const { env: base } = tempHome(t);
  const env = { ...fakeGlobusEnv(base, { authUrl: auth.baseUrl, transferRunUrl: ap.runUrl }), [API_ADDR_ENV]: '127.0.0.1:0' };
  await startDaemonProcess(t, env);
  const cli = cliThatSucceeds(env);
  const { url, token } = await apiAccess(cli);

  /** POST /v2/timer: a transfer timer every `intervalSeconds` from now. */
  const createTransferTimer = (intervalSeconds: number) =>
    fetch(`${url}/v2/timer`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        timer: {
          timer_type: 'transfer',
          name: 'api transfer',
          schedule: { type: 'recurring', interval_seconds: intervalSeconds },
          body: {
            source_endpoint: '000a11ce-0000-1000-8000-000000000003',
            destination_endpoint: '000a11ce-0000-1000-8000-000000000002',
            DATA: [{ DATA_TYPE: 'transfer_item', source_path: '/data/', destination_path: '/backup/', recursive: true }],
          },
        },
      }),
    });

  // No login yet: the token cache has no consent for the Transfer scope.
  const res = await createTransferTimer(1);
  const created = (await res.json()) as Json;
  assert.equal(res.status, 201, JSON.stringify(created));
  const timer = created.timer as Json;
  const id = timer.job_id as string;
  assert.equal(timer.status, 'inactive');
  assert.equal(timer.inactive_reason.cause, 'globus_auth_requirements');
  assert.equal(timer.inactive_reason.detail.code, 'ConsentRequired');
  assert.deepEqual(timer.inactive_reason.detail.authorization_parameters, { required_scopes: [TRANSFER_SCOPE] });
  // The CLI sees the same job, inactive for the same reason.
  const before = JSON.parse(await cli('job', 'status', id, '--format', 'json')) as JobDocument;
  assert.equal(before.status, 'inactive');
  assert.equal(before.inactive_reason?.cause, 'globus_auth_requirements');

  // The user consents, as the reason's message says, and resumes the job.
  const login = await runCliProcess(['session', 'login', '--no-browser', '--scope', TRANSFER_SCOPE], env, (stdout) => {
    const authorizeUrl = /https?:\/\/\S+\/v2\/oauth2\/authorize\?\S+/.exec(stdout)?.[0];
    return authorizeUrl ? auth.approve(authorizeUrl) : undefined;
  });
  assert.equal(login.code, 0, login.stderr);
  assert.equal(ap.runRequests().length, 0, 'nothing was sent while the job was inactive');
  await cli('job', 'resume', id);

  // It fires at the provider with a Transfer token the fake Auth issued, and the run succeeds.
  const [run] = await ap.waitForRuns(1, 20_000);
  assert.ok(run);
  const bearer = /^Bearer (.+)$/.exec(String(run.headers.authorization ?? ''))?.[1];
  assert.ok(bearer && auth.accepts(bearer, TRANSFER_SCOPE), 'a Transfer token from the fake Auth');
  const after = await until('a succeeded run', async () => {
    const doc = JSON.parse(await cli('job', 'status', id, '--format', 'json')) as JobDocument;
    return doc.results.data.some((r) => r.action_status === 'SUCCEEDED') ? doc : undefined;
  });
  assert.equal(after.status, 'loaded');

  // With consent in the cache, a new timer is loaded from the start.
  const later = await createTransferTimer(3600);
  assert.equal(later.status, 201);
  assert.equal(((await later.json()) as Json).timer.status, 'loaded');
});
