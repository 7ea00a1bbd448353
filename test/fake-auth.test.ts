/**
 * The test doubles themselves: the fake Globus Auth (test/support/auth.ts) and the token
 * check and introspection of the fake Action Provider (test/support/provider.ts).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { pkcePair, startFakeAuth, type FakeAuth, type FakeAuthOptions } from './support/auth.ts';
import { startFakeProvider, type FakeProvider } from './support/provider.ts';

const NATIVE = 'bc77d044-1f42-46cc-9702-87f756cd08a6';
const REDIRECT = 'https://auth.globus.org/v2/web/auth-code';
const TRANSFER = 'urn:globus:auth:scope:transfer.api.globus.org:all';
const COLLECTION = randomUUID();
const TRANSFER_DA = `${TRANSFER}[*https://auth.globus.org/scopes/${COLLECTION}/data_access]`;
const AP_SCOPE = 'https://auth.globus.org/scopes/actions.globus.org/transfer/transfer';

async function fakeAuth(t: TestContext, opts?: FakeAuthOptions): Promise<FakeAuth> {
  const a = await startFakeAuth(opts);
  t.after(() => a.close());
  return a;
}

async function fakeProvider(t: TestContext): Promise<FakeProvider> {
  const p = await startFakeProvider();
  t.after(() => p.close());
  return p;
}

function authorizeUrl(a: FakeAuth, challenge: string, scope: string, extra: Record<string, string> = {}): string {
  const q = new URLSearchParams({
    client_id: NATIVE,
    redirect_uri: REDIRECT,
    scope,
    response_type: 'code',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    access_type: 'offline',
    prefill_named_grant: 'test host',
    ...extra,
  });
  return `${a.baseUrl}/v2/oauth2/authorize?${q}`;
}

interface TokenEntry {
  access_token: string;
  refresh_token?: string;
  expires_in: number;
  resource_server: string;
  scope: string;
  token_type: string;
}
type TokenResponse = TokenEntry & { other_tokens: TokenEntry[] };

async function post(
  url: string,
  form: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const token = (a: FakeAuth, form: Record<string, string>, headers?: Record<string, string>) => post(`${a.baseUrl}/v2/oauth2/token`, form, headers);
const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` });

/** A full native-app login; the token response. */
async function login(a: FakeAuth, scope: string, extra: Record<string, string> = {}): Promise<TokenResponse> {
  const { verifier, challenge } = pkcePair();
  const code = a.approve(authorizeUrl(a, challenge, scope, extra));
  const res = await token(a, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: NATIVE, code_verifier: verifier });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body as unknown as TokenResponse;
}

function byRs(r: TokenResponse): Map<string, TokenEntry> {
  return new Map([r, ...r.other_tokens].map((e) => [e.resource_server, e]));
}

test('authorization code with PKCE: one token per resource server, Globus shape', async (t) => {
  const a = await fakeAuth(t);
  const r = await login(a, `openid profile email ${TRANSFER_DA}`);
  assert.equal(r.resource_server, 'auth.globus.org');
  assert.equal(r.scope, 'openid profile email');
  assert.equal(r.token_type, 'Bearer');
  assert.equal(r.expires_in, 172800);
  assert.equal(r.other_tokens.length, 1);
  const transfer = r.other_tokens[0]!;
  assert.equal(transfer.resource_server, 'transfer.api.globus.org');
  assert.equal(transfer.scope, TRANSFER, 'dependencies stripped');
  assert.ok(transfer.refresh_token && r.refresh_token, 'offline access: refresh tokens');
  const secrets = [r.access_token, r.refresh_token, transfer.access_token, transfer.refresh_token];
  assert.equal(new Set(secrets).size, 4);
  assert.deepEqual(a.issuedSecrets().sort(), [...secrets].sort());
  for (const s of secrets) assert.match(s!, /^Ag[A-Za-z0-9_-]{40,}$/);
  assert.equal(a.grants.authorization_code, 1);
  assert.equal(a.requests[0]?.form.grant_type, 'authorization_code');
});

test('online access: no refresh token', async (t) => {
  const a = await fakeAuth(t);
  const r = await login(a, TRANSFER, { access_type: 'online' });
  assert.equal(r.refresh_token, undefined);
  assert.deepEqual(r.other_tokens, []);
});

test('PKCE, redirect_uri, client and single use are all checked', async (t) => {
  const a = await fakeAuth(t);
  const { verifier, challenge } = pkcePair();
  const code = a.approve(authorizeUrl(a, challenge, TRANSFER));
  const base = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: NATIVE, code_verifier: verifier };

  const wrongVerifier = await token(a, { ...base, code_verifier: pkcePair().verifier });
  assert.equal(wrongVerifier.status, 400);
  assert.equal(wrongVerifier.body.error, 'invalid_grant');
  assert.equal(typeof wrongVerifier.body.error_description, 'string');
  const { code_verifier: _omitted, ...noVerifier } = base;
  assert.equal((await token(a, noVerifier)).body.error, 'invalid_grant');
  assert.equal((await token(a, { ...base, redirect_uri: 'https://elsewhere.example/cb' })).body.error, 'invalid_grant');
  const unknownClient = await token(a, { ...base, client_id: randomUUID() });
  assert.equal(unknownClient.status, 401);
  assert.equal(unknownClient.body.error, 'invalid_client');

  assert.equal((await token(a, base)).status, 200);
  const again = await token(a, base);
  assert.equal(again.status, 400, 'a code is single use');
  assert.equal(again.body.error, 'invalid_grant');
  assert.equal(a.grants.authorization_code, 1);
});

test('approve() rejects what is not a proper authorize URL', async (t) => {
  const a = await fakeAuth(t);
  const { challenge } = pkcePair();
  assert.throws(() => a.approve(authorizeUrl(a, challenge, TRANSFER, { code_challenge_method: 'plain' })), /S256/);
  assert.throws(() => a.approve(authorizeUrl(a, challenge, TRANSFER, { response_type: 'token' })), /response_type/);
  assert.throws(() => a.approve(authorizeUrl(a, challenge, TRANSFER).replace('/v2/oauth2/authorize', '/v2/oauth2/authorise')), /path/);
  assert.throws(() => a.approve(authorizeUrl(a, challenge, TRANSFER).replace(a.baseUrl, 'https://auth.globus.org')), /not at the fake/);
  assert.throws(() => a.approve(authorizeUrl(a, challenge, 'not-a-scope')), /unknown scope/);
});

test('refresh after expiry: new access token, same refresh token; revoked refresh → invalid_grant', async (t) => {
  const a = await fakeAuth(t);
  a.expiresInSeconds = 60;
  const r = await login(a, TRANSFER);
  assert.equal(r.expires_in, 60);
  assert.ok(a.accepts(r.access_token, TRANSFER));
  a.expireAccessTokens();
  assert.equal(a.accepts(r.access_token, TRANSFER), false, 'expired');

  const refreshed = await token(a, { grant_type: 'refresh_token', refresh_token: r.refresh_token!, client_id: NATIVE });
  assert.equal(refreshed.status, 200);
  const body = refreshed.body as unknown as TokenResponse;
  assert.notEqual(body.access_token, r.access_token);
  assert.equal(body.refresh_token, r.refresh_token, 'refresh tokens do not rotate');
  assert.equal(body.resource_server, 'transfer.api.globus.org');
  assert.equal(body.scope, TRANSFER);
  assert.deepEqual(body.other_tokens, []);
  assert.ok(a.accepts(body.access_token, TRANSFER));
  assert.equal(a.grants.refresh_token, 1);

  a.revokeAll();
  assert.equal(a.accepts(body.access_token, TRANSFER), false, 'access tokens of a revoked grant die with it');
  const dead = await token(a, { grant_type: 'refresh_token', refresh_token: r.refresh_token!, client_id: NATIVE });
  assert.equal(dead.status, 400);
  assert.equal(dead.body.error, 'invalid_grant');
});

test('refusals are consumed in order, then normal service resumes', async (t) => {
  const a = await fakeAuth(t);
  const r = await login(a, TRANSFER);
  a.refuse.refresh_token = [500, 'invalid_grant', 'invalid_client', 'hang'];
  const form = { grant_type: 'refresh_token', refresh_token: r.refresh_token!, client_id: NATIVE };
  assert.equal((await token(a, form)).status, 500);
  assert.deepEqual((await token(a, form)).body.error, 'invalid_grant');
  assert.equal((await token(a, form)).status, 401);
  await assert.rejects(
    fetch(`${a.baseUrl}/v2/oauth2/token`, { method: 'POST', body: new URLSearchParams(form), signal: AbortSignal.timeout(200) }),
    /abort|timeout/i,
  );
  assert.equal((await token(a, form)).status, 200);
  assert.equal(a.grants.refresh_token, 1);
});

test('revoke endpoint: a revoked refresh token takes its access tokens with it', async (t) => {
  const a = await fakeAuth(t);
  const r = await login(a, TRANSFER);
  const res = await post(`${a.baseUrl}/v2/oauth2/token/revoke`, { token: r.refresh_token!, client_id: NATIVE });
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, { active: false });
  assert.deepEqual(a.revocations, [r.refresh_token]);
  assert.equal(a.accepts(r.access_token, TRANSFER), false);
  assert.equal((await token(a, { grant_type: 'refresh_token', refresh_token: r.refresh_token!, client_id: NATIVE })).body.error, 'invalid_grant');
});

test('client credentials need HTTP Basic with the confidential client; no refresh token', async (t) => {
  const a = await fakeAuth(t, { confidentialClient: { id: 'svc', secret: 's3cret' } });
  const form = { grant_type: 'client_credentials', scope: `${TRANSFER} ${AP_SCOPE}` };
  const ok = await token(a, form, basic('svc', 's3cret'));
  assert.equal(ok.status, 200);
  const r = ok.body as unknown as TokenResponse;
  assert.equal(r.refresh_token, undefined);
  const tokens = byRs(r);
  assert.deepEqual([...tokens.keys()], ['transfer.api.globus.org', 'actions.globus.org']);
  assert.ok(a.accepts(tokens.get('actions.globus.org')!.access_token, AP_SCOPE));
  assert.equal(a.accepts(tokens.get('actions.globus.org')!.access_token, TRANSFER), false, 'wrong resource server');

  for (const headers of [{}, basic('svc', 'wrong'), basic(NATIVE, '')]) {
    const bad = await token(a, { ...form, client_id: 'svc' }, headers);
    assert.equal(bad.status, 401, JSON.stringify(headers));
    assert.equal(bad.body.error, 'invalid_client');
  }
  const noSecretNative = await token(a, { ...form, client_id: NATIVE });
  assert.equal(noSecretNative.status, 401);
  assert.equal(a.grants.client_credentials, 1);
});

test('userinfo answers for an auth.globus.org token with openid, 401 otherwise', async (t) => {
  const a = await fakeAuth(t, { username: 'bob@example.org' });
  const r = await login(a, `openid profile email ${TRANSFER}`);
  const tokens = byRs(r);
  const info = await fetch(`${a.baseUrl}/v2/oauth2/userinfo`, { headers: { authorization: `Bearer ${tokens.get('auth.globus.org')!.access_token}` } });
  assert.equal(info.status, 200);
  const body = (await info.json()) as Record<string, unknown>;
  assert.equal(body.sub, a.identityId);
  assert.equal(body.preferred_username, 'bob@example.org');
  assert.equal(body.name, 'Alice Example');
  assert.equal(body.email, 'alice@example.org');
  assert.equal(typeof body.identity_provider_display_name, 'string');
  assert.equal(typeof body.last_authentication, 'number');

  for (const auth of [`Bearer ${tokens.get('transfer.api.globus.org')!.access_token}`, 'Bearer nonsense', undefined]) {
    const res = await fetch(`${a.baseUrl}/v2/oauth2/userinfo`, { headers: auth ? { authorization: auth } : {} });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_token');
  }
  const unknown = await fetch(`${a.baseUrl}/v2/nothing`);
  assert.equal(unknown.status, 404);
  assert.equal(a.requests.at(-1)?.path, '/v2/nothing');
});

test('accepts() with dependent scopes needs exactly those dependencies', async (t) => {
  const a = await fakeAuth(t);
  const other = `*https://auth.globus.org/scopes/${randomUUID()}/data_access`;
  const both = `${TRANSFER}[*https://auth.globus.org/scopes/${COLLECTION}/data_access ${other}]`;
  const r = await login(a, `openid ${both}`);
  const tok = byRs(r).get('transfer.api.globus.org')!.access_token;
  assert.equal(byRs(r).get('transfer.api.globus.org')!.scope, TRANSFER);
  assert.ok(a.accepts(tok, TRANSFER), 'the plain base scope');
  assert.ok(a.accepts(tok, both));
  assert.ok(a.accepts(tok, `${TRANSFER}[${other} *https://auth.globus.org/scopes/${COLLECTION}/data_access]`), 'order does not matter');
  assert.equal(a.accepts(tok, TRANSFER_DA), false, 'a subset of the dependencies is not the same consent');
  assert.equal(a.accepts(tok, AP_SCOPE), false);
  assert.equal(a.accepts(undefined, TRANSFER), false);
  assert.equal(a.accepts('AgAAAmadeup', TRANSFER), false);

  const plain = byRs(await login(a, TRANSFER)).get('transfer.api.globus.org')!.access_token;
  assert.ok(a.accepts(plain, TRANSFER));
  assert.equal(a.accepts(plain, TRANSFER_DA), false, 'no dependencies consented');

  a.expireAccessTokens(plain);
  assert.equal(a.accepts(plain, TRANSFER), false);
  assert.ok(a.accepts(tok, TRANSFER), 'expiring one token leaves the others');
});

test('provider: introspection at the base URL, with or without trailing slash', async (t) => {
  const p = await fakeProvider(t);
  for (const url of [p.baseUrl, `${p.baseUrl}/`]) {
    const res = await fetch(url);
    assert.equal(res.status, 200);
    const doc = (await res.json()) as Record<string, unknown>;
    assert.equal(doc.title, 'Fake Action Provider');
    assert.equal(doc.globus_auth_scope, null);
    assert.equal(doc.synchronous, false);
    assert.deepEqual(doc.runnable_by, ['all_authenticated_users']);
  }
  p.introspectionScope = AP_SCOPE;
  assert.equal(((await (await fetch(p.baseUrl)).json()) as Record<string, unknown>).globus_auth_scope, AP_SCOPE);
});

test('provider: with a token check, unaccepted run, status and release requests get 401', async (t) => {
  const a = await fakeAuth(t);
  const p = await fakeProvider(t);
  p.auth = { scope: AP_SCOPE, accepts: a.accepts };
  const r = await login(a, AP_SCOPE);
  const run = (authorization?: string) =>
    fetch(p.runUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body: JSON.stringify({ request_id: randomUUID(), body: { a: 1 } }),
    });

  const none = await run();
  assert.equal(none.status, 401);
  assert.equal(((await none.json()) as { code: string }).code, 'AuthenticationFailed');
  assert.equal((await run('Bearer not-a-token')).status, 401);
  const ok = await run(`Bearer ${r.access_token}`);
  assert.equal(ok.status, 202);
  const { action_id } = (await ok.json()) as { action_id: string };
  assert.equal(p.runRequests().length, 3, 'refused requests are recorded too');
  assert.equal(p.runRequests()[1]?.headers.authorization, 'Bearer not-a-token');

  a.expireAccessTokens();
  assert.equal((await fetch(`${p.baseUrl}/${action_id}/status`, { headers: { authorization: `Bearer ${r.access_token}` } })).status, 401);
  assert.equal((await fetch(`${p.baseUrl}/${action_id}/release`, { method: 'POST', headers: { authorization: `Bearer ${r.access_token}` } })).status, 401);
  const refreshed = (await token(a, { grant_type: 'refresh_token', refresh_token: r.refresh_token!, client_id: NATIVE })).body as unknown as TokenResponse;
  assert.equal((await fetch(`${p.baseUrl}/${action_id}/status`, { headers: { authorization: `Bearer ${refreshed.access_token}` } })).status, 200);
  assert.equal((await fetch(p.baseUrl)).status, 200, 'introspection needs no token');
  p.auth = null;
  assert.equal((await run()).status, 202);
});
