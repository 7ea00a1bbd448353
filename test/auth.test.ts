/**
 * Globus Auth in globus-timer, module by module, against real files in a temp dir and the
 * fake Globus Auth (test/support/auth.ts) on 127.0.0.1: scope strings, the environment,
 * the OAuth2 client, the token cache (permissions, atomic writes, locking between real
 * processes), the token providers, and the `session` CLI commands run in-process.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { test, type TestContext } from 'node:test';
import lockfile from 'proper-lockfile';
import { AuthClient, parseTokenResponse, pkcePair, type TokenGrant } from '../src/auth/auth-client.ts';
import { authBaseUrl, authSettings, DEFAULT_CLIENT_ID, type AuthSettings } from '../src/auth/environment.ts';
import { baseScope, coversScope, formatScope, IDENTITY_SCOPES, mergeScopes, parseScope, TRANSFER_SCOPE, transferScope } from '../src/core/scopes.ts';
import {
  clearTokenCache,
  consentedScopes,
  lookupToken,
  TOKEN_CACHE_FORMAT,
  TokenCache,
  withGrants,
  type CachedToken,
  type TokenCacheFile,
} from '../src/auth/token-cache.ts';
import { ClientCredentialTokens, createTokenProvider, UserTokens } from '../src/auth/tokens.ts';
import { runCli } from '../src/cli/main.ts';
import { NOT_LOGGED_IN } from '../src/cli/session.ts';
import { AuthError, AuthRequiredError, AuthUnavailableError, ERROR_CODES, InvalidInputError, TokenCacheError } from '../src/core/errors.ts';
import { splitScopes, startFakeAuth, type FakeAuth } from './support/auth.ts';
import { FakeClock } from './support/clock.ts';
import { freePort, ROOT, tempHome } from './support/env.ts';

const AUTH_RS = 'auth.globus.org';
const TRANSFER_RS = 'transfer.api.globus.org';
const COLLECTION_A = '1b5c8a44-0000-4000-8000-00000000000a';
const COLLECTION_B = '1b5c8a44-0000-4000-8000-00000000000b';
const DA_A = `*https://auth.globus.org/scopes/${COLLECTION_A}/data_access`;
const DA_B = `*https://auth.globus.org/scopes/${COLLECTION_B}/data_access`;
const AP_SCOPE = 'https://auth.globus.org/scopes/actions.globus.org/transfer/transfer';
const LOGIN_SCOPES = [...IDENTITY_SCOPES, TRANSFER_SCOPE];

// ---------------------------------------------------------------------------------------
// Helpers

async function fakeAuth(t: TestContext): Promise<FakeAuth> {
  const fake = await startFakeAuth();
  t.after(() => fake.close());
  return fake;
}

function userSettings(fake: FakeAuth): AuthSettings {
  return { baseUrl: fake.baseUrl, clientId: DEFAULT_CLIENT_ID, clientSecret: null };
}

function confidentialSettings(fake: FakeAuth, secret = 'cc-secret'): AuthSettings {
  return { baseUrl: fake.baseUrl, clientId: 'cc-client', clientSecret: secret };
}

/** The native-app login as a user would do it: authorize URL, log in at the fake, exchange the code. */
async function pkceLogin(client: AuthClient, fake: FakeAuth, scopes: readonly string[] = LOGIN_SCOPES): Promise<TokenGrant[]> {
  const { verifier, challenge } = pkcePair();
  const code = fake.approve(client.authorizeUrl(scopes, challenge));
  return client.exchangeCode(code, verifier);
}

function grantFor(grants: readonly TokenGrant[], rs: string): TokenGrant {
  const g = grants.find((x) => x.resourceServer === rs);
  assert.ok(g, `a grant for ${rs}`);
  return g;
}

function readJson(file: string): TokenCacheFile {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as TokenCacheFile;
}

function modeOf(file: string): string {
  return (fs.statSync(file).mode & 0o777).toString(8);
}

/** A cache entry, for tests that build cache files by hand. */
function entry(rs: string, over: Partial<CachedToken> = {}): CachedToken {
  return {
    resource_server: rs,
    access_token: `at-${rs}`,
    refresh_token: `rt-${rs}`,
    expiration_time: 2_000_000_000,
    scopes: rs === AUTH_RS ? [...IDENTITY_SCOPES] : rs === TRANSFER_RS ? [TRANSFER_SCOPE] : [`urn:globus:auth:scope:${rs}:all`],
    dependent_scopes: [],
    ...over,
  };
}

function cacheOf(tokens: CachedToken[], clientId = DEFAULT_CLIENT_ID): TokenCacheFile {
  return { format: TOKEN_CACHE_FORMAT, client_id: clientId, tokens: Object.fromEntries(tokens.map((t) => [t.resource_server, t])) };
}

function grant(rs: string, over: Partial<TokenGrant> = {}): TokenGrant {
  return { resourceServer: rs, accessToken: `new-at-${rs}`, refreshToken: null, expiresAtSeconds: 2_100_000_000, scopes: [], ...over };
}

/** A logged-in user's token cache in a temp dir, filled by a real login at the fake. */
async function loggedInCache(t: TestContext, fake: FakeAuth, scopes: readonly string[] = LOGIN_SCOPES) {
  const { paths } = tempHome(t);
  const warnings: string[] = [];
  const cache = new TokenCache(paths.tokensFile, (m) => warnings.push(m));
  const client = new AuthClient(userSettings(fake));
  const grants = await pkceLogin(client, fake, scopes);
  await cache.update((current) => withGrants(current, DEFAULT_CLIENT_ID, grants, scopes));
  return { file: paths.tokensFile, cache, client, grants, warnings };
}

function assertAuthRequired(reason: AuthRequiredError['reason'], scope: string) {
  return (err: unknown) => {
    assert.ok(err instanceof AuthRequiredError, `an AuthRequiredError, got ${String(err)}`);
    assert.equal(err.reason, reason);
    assert.deepEqual(err.requiredScopes, [scope]);
    assert.equal(err.code, ERROR_CODES.AUTH_REQUIRED);
    return true;
  };
}

function assertAuthError(kind: AuthError['kind'], oauthError: string | null) {
  return (err: unknown) => {
    assert.ok(err instanceof AuthError, `an AuthError, got ${String(err)}`);
    assert.equal(err.kind, kind);
    assert.equal(err.oauthError, oauthError);
    return true;
  };
}

function assertNoSecretIn(text: string, fake: FakeAuth, { expectSecrets = true } = {}): void {
  const secrets = fake.issuedSecrets();
  if (expectSecrets) assert.ok(secrets.length > 0, 'the fake issued tokens');
  for (const s of secrets) assert.equal(text.includes(s), false, 'a token leaked');
}

// ---------------------------------------------------------------------------------------
// scopes.ts

test('scopes: parseScope and formatScope, with dependent and nested scopes', () => {
  assert.deepEqual(parseScope('openid'), { base: 'openid', deps: [] });
  assert.deepEqual(parseScope(`  ${TRANSFER_SCOPE}  `), { base: TRANSFER_SCOPE, deps: [] });
  assert.deepEqual(parseScope(`${TRANSFER_SCOPE}[${DA_A} ${DA_B}]`), { base: TRANSFER_SCOPE, deps: [DA_A, DA_B] });
  // Extra whitespace between and around dependencies is not a dependency.
  assert.deepEqual(parseScope(`a[  b \t c  ]`), { base: 'a', deps: ['b', 'c'] });
  // Nested brackets stay with their top-level dependency, verbatim.
  assert.deepEqual(parseScope('a[b[c d] e f[g[h i]]]'), { base: 'a', deps: ['b[c d]', 'e', 'f[g[h i]]'] });
  assert.equal(baseScope('a[b[c d] e]'), 'a');
  assert.equal(baseScope(' a '), 'a');

  assert.equal(formatScope('a', []), 'a');
  assert.equal(formatScope('a', ['b[c d]', 'e']), 'a[b[c d] e]');
  for (const s of ['openid', `${TRANSFER_SCOPE}[${DA_A}]`, 'a[b[c d] e f[g[h i]]]']) {
    const { base, deps } = parseScope(s);
    assert.equal(formatScope(base, deps), s, `round trip of ${s}`);
  }
});

test('scopes: transferScope spells one optional data_access dependency per collection', () => {
  assert.equal(transferScope(), TRANSFER_SCOPE);
  assert.equal(transferScope([]), TRANSFER_SCOPE);
  assert.equal(transferScope([COLLECTION_A]), `${TRANSFER_SCOPE}[${DA_A}]`);
  assert.equal(transferScope([COLLECTION_A, COLLECTION_B]), `${TRANSFER_SCOPE}[${DA_A} ${DA_B}]`);
  assert.deepEqual(parseScope(transferScope([COLLECTION_A, COLLECTION_B])).deps, [DA_A, DA_B]);
});

test('scopes: mergeScopes keeps one scope per base with the union of the dependencies', () => {
  assert.deepEqual(mergeScopes([]), []);
  assert.deepEqual(mergeScopes(['openid', 'openid', 'email']), ['openid', 'email']);
  assert.deepEqual(mergeScopes(['openid', `${TRANSFER_SCOPE}[${DA_A}]`, 'profile', TRANSFER_SCOPE, `${TRANSFER_SCOPE}[${DA_B} ${DA_A}]`, '  ']), [
    'openid',
    `${TRANSFER_SCOPE}[${DA_A} ${DA_B}]`,
    'profile',
  ]);
  assert.deepEqual(mergeScopes(['a[b[c d]]', 'a[e]', 'x']), ['a[b[c d] e]', 'x']);
});

test('scopes: coversScope needs every dependency consented, in any order and across consents', () => {
  const consented = [`${TRANSFER_SCOPE}[${DA_A} ${DA_B}]`];
  assert.equal(coversScope(consented, TRANSFER_SCOPE), true);
  assert.equal(coversScope(consented, `${TRANSFER_SCOPE}[${DA_A}]`), true);
  assert.equal(coversScope(consented, `${TRANSFER_SCOPE}[${DA_B} ${DA_A}]`), true, 'order-insensitive');
  assert.equal(coversScope(consented, transferScope([COLLECTION_A, COLLECTION_B])), true);
  assert.equal(coversScope(consented, transferScope([randomUUID()])), false);
  assert.equal(coversScope(consented, `${TRANSFER_SCOPE}[${DA_A} *https://auth.globus.org/scopes/${randomUUID()}/data_access]`), false);
  // Union over several consents to the same base.
  assert.equal(coversScope([`${TRANSFER_SCOPE}[${DA_A}]`, `${TRANSFER_SCOPE}[${DA_B}]`], `${TRANSFER_SCOPE}[${DA_B} ${DA_A}]`), true);
  // A dependency consented under another base does not count.
  assert.equal(coversScope([`${AP_SCOPE}[${DA_A}]`], `${TRANSFER_SCOPE}[${DA_A}]`), false);
  assert.equal(coversScope([], `${TRANSFER_SCOPE}[${DA_A}]`), false);
  // Nested dependencies are compared whole.
  assert.equal(coversScope(['a[b[c d] e]'], 'a[e b[c d]]'), true);
  assert.equal(coversScope(['a[b[c]]'], 'a[b[c d]]'), false);
});

// ---------------------------------------------------------------------------------------
// environment.ts

test('environment: authBaseUrl from GLOBUS_SDK_SERVICE_URL_AUTH or GLOBUS_SDK_ENVIRONMENT', () => {
  assert.equal(authBaseUrl({}), 'https://auth.globus.org');
  assert.equal(authBaseUrl({ GLOBUS_SDK_SERVICE_URL_AUTH: 'http://127.0.0.1:4444/' }), 'http://127.0.0.1:4444');
  assert.equal(authBaseUrl({ GLOBUS_SDK_SERVICE_URL_AUTH: ' http://127.0.0.1:4444/// ' }), 'http://127.0.0.1:4444');
  assert.equal(authBaseUrl({ GLOBUS_SDK_SERVICE_URL_AUTH: 'https://auth.example.org/base/' }), 'https://auth.example.org/base');
  // The override wins over the environment name.
  assert.equal(authBaseUrl({ GLOBUS_SDK_SERVICE_URL_AUTH: 'http://127.0.0.1:1', GLOBUS_SDK_ENVIRONMENT: 'sandbox' }), 'http://127.0.0.1:1');
  // Blank values are as good as unset.
  assert.equal(authBaseUrl({ GLOBUS_SDK_SERVICE_URL_AUTH: '  ', GLOBUS_SDK_ENVIRONMENT: '' }), 'https://auth.globus.org');
  assert.equal(authBaseUrl({ GLOBUS_SDK_ENVIRONMENT: 'production' }), 'https://auth.globus.org');
  assert.equal(authBaseUrl({ GLOBUS_SDK_ENVIRONMENT: 'default' }), 'https://auth.globus.org');
  assert.equal(authBaseUrl({ GLOBUS_SDK_ENVIRONMENT: 'Preview' }), 'https://auth.preview.globus.org');
  assert.equal(authBaseUrl({ GLOBUS_SDK_ENVIRONMENT: 'sandbox' }), 'https://auth.sandbox.globuscs.info');
  assert.equal(authBaseUrl({ GLOBUS_SDK_ENVIRONMENT: 'integration' }), 'https://auth.integration.globuscs.info');
  for (const bad of ['bad name', 'evil.example.org', 'a/b', 'x?y']) {
    assert.throws(
      () => authBaseUrl({ GLOBUS_SDK_ENVIRONMENT: bad }),
      (err: unknown) => err instanceof InvalidInputError && err.code === ERROR_CODES.INVALID_INPUT && /GLOBUS_SDK_ENVIRONMENT/.test(err.message),
      bad,
    );
  }
});

test('environment: authSettings picks the default native client; a secret needs an id', () => {
  assert.deepEqual(authSettings({}), { baseUrl: 'https://auth.globus.org', clientId: DEFAULT_CLIENT_ID, clientSecret: null });
  assert.equal(DEFAULT_CLIENT_ID, 'bc77d044-1f42-46cc-9702-87f756cd08a6');
  assert.deepEqual(authSettings({ GLOBUS_TIMER_CLIENT_ID: ' my-app ', GLOBUS_SDK_SERVICE_URL_AUTH: 'http://127.0.0.1:9/' }), {
    baseUrl: 'http://127.0.0.1:9',
    clientId: 'my-app',
    clientSecret: null,
  });
  assert.deepEqual(authSettings({ GLOBUS_TIMER_CLIENT_ID: 'cc', GLOBUS_TIMER_CLIENT_SECRET: 's3cret' }), {
    baseUrl: 'https://auth.globus.org',
    clientId: 'cc',
    clientSecret: 's3cret',
  });
  assert.equal(authSettings({ GLOBUS_TIMER_CLIENT_ID: '  ', GLOBUS_TIMER_CLIENT_SECRET: '' }).clientId, DEFAULT_CLIENT_ID);
  assert.throws(
    () => authSettings({ GLOBUS_TIMER_CLIENT_SECRET: 's3cret' }),
    (err: unknown) =>
      err instanceof InvalidInputError &&
      /GLOBUS_TIMER_CLIENT_SECRET is set without GLOBUS_TIMER_CLIENT_ID/.test(err.message) &&
      !err.message.includes('s3cret'),
  );
  assert.throws(() => authSettings({ GLOBUS_TIMER_CLIENT_ID: ' ', GLOBUS_TIMER_CLIENT_SECRET: 's3cret' }), InvalidInputError);
});

// ---------------------------------------------------------------------------------------
// auth-client.ts

test('auth client: the PKCE login yields a token for auth.globus.org and one for transfer', async (t) => {
  const fake = await fakeAuth(t);
  const client = new AuthClient(userSettings(fake));
  const { verifier, challenge } = pkcePair();
  assert.match(verifier, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(verifier, challenge);
  const url = new URL(client.authorizeUrl(LOGIN_SCOPES, challenge));
  assert.equal(`${url.origin}${url.pathname}`, `${fake.baseUrl}/v2/oauth2/authorize`);
  const q = url.searchParams;
  assert.equal(q.get('client_id'), DEFAULT_CLIENT_ID);
  assert.equal(q.get('redirect_uri'), `${fake.baseUrl}/v2/web/auth-code`);
  assert.equal(q.get('scope'), LOGIN_SCOPES.join(' '));
  assert.equal(q.get('response_type'), 'code');
  assert.equal(q.get('code_challenge'), challenge);
  assert.equal(q.get('code_challenge_method'), 'S256');
  assert.equal(q.get('access_type'), 'offline');

  const before = Math.floor(Date.now() / 1000);
  const grants = await client.exchangeCode(fake.approve(url.toString()), verifier);
  assert.deepEqual(grants.map((g) => g.resourceServer).sort(), [AUTH_RS, TRANSFER_RS]);
  const auth = grantFor(grants, AUTH_RS);
  const transfer = grantFor(grants, TRANSFER_RS);
  assert.deepEqual(auth.scopes, ['openid', 'profile', 'email']);
  assert.deepEqual(transfer.scopes, [TRANSFER_SCOPE]);
  for (const g of grants) {
    assert.ok(g.refreshToken, 'offline access: a refresh token');
    assert.ok(Math.abs(g.expiresAtSeconds - (before + fake.expiresInSeconds)) <= 2, 'expiry in epoch seconds');
    assert.equal(fake.accepts(g.accessToken, g.scopes[0]!), true);
  }
  assert.equal(fake.accepts(transfer.accessToken, TRANSFER_SCOPE), true);
  assert.equal(fake.grants.authorization_code, 1);
  // The public client names itself in the form and sends no secret.
  const exchange = fake.requests.find((r) => r.form.grant_type === 'authorization_code');
  assert.equal(exchange?.form.client_id, DEFAULT_CLIENT_ID);
  assert.equal(exchange?.headers.authorization, undefined);
  // A code is good once.
  await assert.rejects(client.exchangeCode(fake.approve(url.toString()), pkcePair().verifier), assertAuthError('refused', 'invalid_grant'));
});

test('auth client: a wrong verifier is refused (invalid_grant); a 500 or no server is "unavailable"', async (t) => {
  const fake = await fakeAuth(t);
  const client = new AuthClient(userSettings(fake));
  const { challenge } = pkcePair();
  const code = fake.approve(client.authorizeUrl(LOGIN_SCOPES, challenge));
  await assert.rejects(client.exchangeCode(code, pkcePair().verifier), (err: unknown) => {
    assertAuthError('refused', 'invalid_grant')(err);
    assert.match((err as Error).message, /400 invalid_grant/);
    return true;
  });
  assert.equal(fake.grants.authorization_code, 0);

  fake.refuse.authorization_code = [500];
  const p = pkcePair();
  const code2 = fake.approve(client.authorizeUrl(LOGIN_SCOPES, p.challenge));
  await assert.rejects(client.exchangeCode(code2, p.verifier), assertAuthError('unavailable', 'server_error'));
  // The injected failure was consumed; the code is still good.
  assert.equal((await client.exchangeCode(code2, p.verifier)).length, 2);

  // Nothing listens: a transport failure, also "unavailable".
  const port = await freePort();
  const nowhere = new AuthClient({ baseUrl: `http://127.0.0.1:${port}`, clientId: DEFAULT_CLIENT_ID, clientSecret: null });
  await assert.rejects(nowhere.refresh('whatever'), assertAuthError('unavailable', null));
});

test('auth client: refresh, revoke and userinfo', async (t) => {
  const fake = await fakeAuth(t);
  const client = new AuthClient(userSettings(fake));
  const grants = await pkceLogin(client, fake);
  const transfer = grantFor(grants, TRANSFER_RS);
  const auth = grantFor(grants, AUTH_RS);

  const refreshed = await client.refresh(transfer.refreshToken!);
  assert.equal(refreshed.length, 1);
  const r = refreshed[0]!;
  assert.equal(r.resourceServer, TRANSFER_RS);
  assert.deepEqual(r.scopes, [TRANSFER_SCOPE]);
  assert.notEqual(r.accessToken, transfer.accessToken);
  assert.equal(r.refreshToken, transfer.refreshToken);
  assert.equal(fake.grants.refresh_token, 1);
  assert.equal(fake.accepts(r.accessToken, TRANSFER_SCOPE), true);

  const info = await client.userinfo(auth.accessToken);
  assert.equal(info.sub, fake.identityId);
  assert.equal(info.preferred_username, 'alice@example.org');
  assert.equal(info.email, 'alice@example.org');
  assert.equal(info.name, 'Alice Example');
  assert.equal(info.organization, 'Example University');
  // A transfer token is no good for userinfo.
  await assert.rejects(client.userinfo(transfer.accessToken), assertAuthError('refused', 'invalid_token'));

  // Revocation: the access token stops working; a revoked refresh token cannot refresh.
  await client.revoke(auth.accessToken);
  await client.revoke(transfer.refreshToken!);
  assert.deepEqual(fake.revocations, [auth.accessToken, transfer.refreshToken]);
  const revokeRequest = fake.requests.find((x) => x.path === '/v2/oauth2/token/revoke');
  assert.equal(revokeRequest?.form.client_id, DEFAULT_CLIENT_ID);
  await assert.rejects(client.userinfo(auth.accessToken), assertAuthError('refused', 'invalid_token'));
  await assert.rejects(client.refresh(transfer.refreshToken!), (err: unknown) => {
    assertAuthError('refused', 'invalid_grant')(err);
    assert.equal((err as Error).message.includes(transfer.refreshToken!), false, 'no token in the message');
    return true;
  });
  fake.refuse.refresh_token = [500];
  await assert.rejects(client.refresh(grantFor(grants, AUTH_RS).refreshToken!), assertAuthError('unavailable', 'server_error'));
});

test('auth client: client credentials with a confidential client (HTTP Basic), and a wrong secret', async (t) => {
  const fake = await fakeAuth(t);
  const client = new AuthClient(confidentialSettings(fake));
  const grants = await client.clientCredentials([TRANSFER_SCOPE]);
  assert.equal(grants.length, 1);
  const g = grants[0]!;
  assert.equal(g.resourceServer, TRANSFER_RS);
  assert.equal(g.refreshToken, null);
  assert.deepEqual(g.scopes, [TRANSFER_SCOPE]);
  assert.equal(fake.accepts(g.accessToken, TRANSFER_SCOPE), true);
  assert.equal(fake.grants.client_credentials, 1);
  const req = fake.requests.find((r) => r.form.grant_type === 'client_credentials')!;
  assert.match(String(req.headers.authorization), /^Basic /);
  assert.equal(req.form.client_id, undefined);
  assert.equal(req.form.scope, TRANSFER_SCOPE);

  // Two resource servers at once.
  const two = await client.clientCredentials([TRANSFER_SCOPE, AP_SCOPE]);
  assert.deepEqual(two.map((x) => x.resourceServer).sort(), ['actions.globus.org', TRANSFER_RS]);

  // A confidential client revokes with its credentials and no client_id in the form.
  await client.revoke(g.accessToken);
  const rev = fake.requests.find((r) => r.path === '/v2/oauth2/token/revoke')!;
  assert.match(String(rev.headers.authorization), /^Basic /);
  assert.equal(rev.form.client_id, undefined);
  assert.equal(fake.accepts(g.accessToken, TRANSFER_SCOPE), false);

  const wrong = new AuthClient(confidentialSettings(fake, 'not-the-secret'));
  await assert.rejects(wrong.clientCredentials([TRANSFER_SCOPE]), (err: unknown) => {
    assertAuthError('refused', 'invalid_client')(err);
    assert.equal((err as Error).message.includes('not-the-secret'), false);
    return true;
  });
  await assert.rejects(client.clientCredentials(['not a scope']), assertAuthError('refused', 'invalid_scope'));
});

test('auth client: parseTokenResponse reads the top-level token and other_tokens', () => {
  const nowMs = 1_700_000_000_500;
  const grants = parseTokenResponse(
    {
      access_token: 'A1',
      refresh_token: 'R1',
      expires_in: 3600,
      resource_server: AUTH_RS,
      scope: 'openid  profile email',
      token_type: 'Bearer',
      other_tokens: [
        { access_token: 'A2', refresh_token: '', expires_in: 7200.9, resource_server: TRANSFER_RS, scope: TRANSFER_SCOPE },
        { access_token: 'A3', resource_server: 'actions.globus.org' },
      ],
    },
    nowMs,
  );
  assert.deepEqual(grants, [
    { resourceServer: AUTH_RS, accessToken: 'A1', refreshToken: 'R1', expiresAtSeconds: 1_700_003_600, scopes: ['openid', 'profile', 'email'] },
    { resourceServer: TRANSFER_RS, accessToken: 'A2', refreshToken: null, expiresAtSeconds: 1_700_007_200, scopes: [TRANSFER_SCOPE] },
    { resourceServer: 'actions.globus.org', accessToken: 'A3', refreshToken: null, expiresAtSeconds: 1_700_000_000, scopes: [] },
  ]);
  assert.equal(parseTokenResponse({ access_token: 'A', resource_server: 'rs', expires_in: 10 }, nowMs).length, 1);
  assert.throws(() => parseTokenResponse({ resource_server: 'rs' }), assertAuthError('unavailable', null));
  assert.throws(() => parseTokenResponse({ access_token: 'A', resource_server: 'rs', other_tokens: [{ access_token: 'B' }] }), AuthError);
});

// ---------------------------------------------------------------------------------------
// token-cache.ts

test('token cache: created 0600 in a new 0700 directory; writes are atomic and leave no temp files', async (t) => {
  const { home } = tempHome(t);
  const file = path.join(home, 'new', 'deeper', 'tokens.json');
  const cache = new TokenCache(file, () => assert.fail('no warning expected'));
  assert.equal(cache.read(), null);
  const content = cacheOf([entry(AUTH_RS), entry(TRANSFER_RS)]);
  assert.deepEqual(
    await cache.update((current) => {
      assert.equal(current, null);
      return content;
    }),
    content,
  );
  assert.equal(modeOf(file), '600');
  assert.equal(modeOf(path.dirname(file)), '700');
  assert.equal(modeOf(path.join(home, 'new')), '700');
  assert.deepEqual(readJson(file), content);
  assert.deepEqual(cache.read(), content);

  for (let i = 0; i < 10; i++) {
    await cache.update((current) => ({ ...current!, tokens: { ...current!.tokens, [TRANSFER_RS]: entry(TRANSFER_RS, { expiration_time: i }) } }));
  }
  assert.equal(readJson(file).tokens[TRANSFER_RS]?.expiration_time, 9);
  assert.equal(modeOf(file), '600');
  assert.deepEqual(fs.readdirSync(path.dirname(file)), ['tokens.json'], 'no *.tmp files and no lock left behind');

  // null deletes the file; deleting what is not there is fine.
  assert.equal(await cache.update(() => null), null);
  assert.equal(fs.existsSync(file), false);
  assert.equal(cache.read(), null);
  assert.equal(await cache.update(() => null), null);
  assert.deepEqual(fs.readdirSync(path.dirname(file)), []);
});

test('token cache: a cache readable by others is tightened to 0600, with a warning', async (t) => {
  const { paths } = tempHome(t);
  const file = paths.tokensFile;
  fs.writeFileSync(file, JSON.stringify(cacheOf([entry(AUTH_RS)])));
  fs.chmodSync(file, 0o644);
  const warnings: string[] = [];
  const cache = new TokenCache(file, (m) => warnings.push(m));
  assert.equal(cache.read()?.client_id, DEFAULT_CLIENT_ID);
  assert.equal(modeOf(file), '600');
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /readable by others \(mode 644\); tightened to 600/);
  assert.ok(warnings[0]!.includes(file));
  cache.read();
  assert.equal(warnings.length, 1, 'one warning, not one per read');

  fs.chmodSync(file, 0o660);
  await cache.update((c) => c);
  assert.equal(modeOf(file), '600');
  assert.equal(warnings.length, 2);
});

test('token cache: corrupt or wrong-shape files are TokenCacheErrors that name `session logout`', async (t) => {
  const { paths } = tempHome(t);
  const file = paths.tokensFile;
  const good = cacheOf([entry(AUTH_RS)]);
  const bad: [string, string][] = [
    ['{not json', 'not JSON'],
    ['', 'not JSON'],
    ['null', 'not a globus-timer-tokens/1 token cache'],
    ['[]', 'not a globus-timer-tokens/1 token cache'],
    [JSON.stringify({ ...good, format: 'other/1' }), 'not a globus-timer-tokens/1'],
    [JSON.stringify({ ...good, client_id: 7 }), 'not a globus-timer-tokens/1'],
    [JSON.stringify({ ...good, tokens: [] }), 'not a globus-timer-tokens/1'],
    [JSON.stringify({ ...good, tokens: { [AUTH_RS]: { ...entry(AUTH_RS), resource_server: 'other' } } }), 'malformed'],
    [JSON.stringify({ ...good, tokens: { [AUTH_RS]: { ...entry(AUTH_RS), access_token: 1 } } }), 'malformed'],
    [JSON.stringify({ ...good, tokens: { [AUTH_RS]: { ...entry(AUTH_RS), refresh_token: undefined } } }), 'malformed'],
    [JSON.stringify({ ...good, tokens: { [AUTH_RS]: { ...entry(AUTH_RS), expiration_time: '1' } } }), 'malformed'],
    [JSON.stringify({ ...good, tokens: { [AUTH_RS]: { ...entry(AUTH_RS), scopes: [1] } } }), 'malformed'],
    [JSON.stringify({ ...good, tokens: { [AUTH_RS]: { ...entry(AUTH_RS), dependent_scopes: 'x' } } }), 'malformed'],
  ];
  for (const [text, detail] of bad) {
    fs.writeFileSync(file, text, { mode: 0o600 });
    const cache = new TokenCache(file, () => {});
    assert.throws(
      () => cache.read(),
      (err: unknown) => {
        assert.ok(err instanceof TokenCacheError, `a TokenCacheError for ${text}`);
        assert.equal(err.code, ERROR_CODES.TOKEN_CACHE_INVALID);
        assert.ok(err.message.includes(detail), `${err.message} names ${detail}`);
        assert.ok(err.message.includes('session logout'), err.message);
        assert.ok(err.message.includes(file));
        return true;
      },
      text,
    );
  }
  // A refresh token `null` is fine.
  fs.writeFileSync(file, JSON.stringify(cacheOf([entry(AUTH_RS, { refresh_token: null })])));
  assert.equal(new TokenCache(file, () => {}).read()?.tokens[AUTH_RS]?.refresh_token, null);
});

test('token cache: read() is cached by file identity, yet sees what another instance wrote', async (t) => {
  const { paths } = tempHome(t);
  const file = paths.tokensFile;
  const mine = new TokenCache(file, () => {});
  const theirs = new TokenCache(file, () => {});
  await mine.update(() => cacheOf([entry(AUTH_RS)]));
  const first = mine.read();
  assert.ok(first);
  assert.equal(mine.read(), first, 'an unchanged file is not parsed again');
  assert.equal(mine.read(), first);

  await theirs.update((c) => ({ ...c!, tokens: { ...c!.tokens, [TRANSFER_RS]: entry(TRANSFER_RS) } }));
  const second = mine.read();
  assert.notEqual(second, first);
  assert.deepEqual(Object.keys(second!.tokens).sort(), [AUTH_RS, TRANSFER_RS]);
  assert.equal(mine.read(), second);

  // Same size, new content (a token of the same length): still seen.
  await theirs.update((c) => ({ ...c!, tokens: { ...c!.tokens, [AUTH_RS]: entry(AUTH_RS, { access_token: 'at-auth.globus.orX' }) } }));
  assert.equal(mine.read()?.tokens[AUTH_RS]?.access_token, 'at-auth.globus.orX');

  // Deleted by the other: gone.
  await theirs.update(() => null);
  assert.equal(mine.read(), null);
  // update() always reads afresh, never from the memo.
  await theirs.update(() => cacheOf([entry(TRANSFER_RS)]));
  await mine.update((c) => {
    assert.deepEqual(Object.keys(c!.tokens), [TRANSFER_RS]);
    return c;
  });
});

test('token cache: withGrants keeps other resource servers, refresh tokens and dependent scopes across a refresh', () => {
  const daScope = transferScope([COLLECTION_A]);
  const requested = [...IDENTITY_SCOPES, daScope, AP_SCOPE];
  const login = withGrants(
    null,
    DEFAULT_CLIENT_ID,
    [grant(AUTH_RS, { refreshToken: 'rt-auth', scopes: [...IDENTITY_SCOPES] }), grant(TRANSFER_RS, { refreshToken: 'rt-transfer', scopes: [TRANSFER_SCOPE] })],
    requested,
  );
  assert.equal(login.format, TOKEN_CACHE_FORMAT);
  assert.equal(login.client_id, DEFAULT_CLIENT_ID);
  assert.deepEqual(login.tokens[TRANSFER_RS]?.dependent_scopes, [daScope]);
  assert.deepEqual(login.tokens[AUTH_RS]?.dependent_scopes, []);
  assert.deepEqual(login.tokens[TRANSFER_RS]?.scopes, [TRANSFER_SCOPE]);

  // A refresh answer: a new access token, no refresh token, maybe no scope.
  const refreshed = withGrants(login, DEFAULT_CLIENT_ID, [grant(TRANSFER_RS, { accessToken: 'fresh', expiresAtSeconds: 42, scopes: [] })]);
  assert.deepEqual(refreshed.tokens[AUTH_RS], login.tokens[AUTH_RS], 'other resource servers untouched');
  assert.deepEqual(refreshed.tokens[TRANSFER_RS], {
    resource_server: TRANSFER_RS,
    access_token: 'fresh',
    refresh_token: 'rt-transfer',
    expiration_time: 42,
    scopes: [TRANSFER_SCOPE],
    dependent_scopes: [daScope],
  });
  assert.equal(login.tokens[TRANSFER_RS]?.access_token, `new-at-${TRANSFER_RS}`, 'the input is not mutated');

  // A second login with another collection: both consents are remembered, once each.
  const second = withGrants(
    refreshed,
    DEFAULT_CLIENT_ID,
    [grant(TRANSFER_RS, { refreshToken: 'rt-2', scopes: [TRANSFER_SCOPE] })],
    [transferScope([COLLECTION_B]), daScope],
  );
  assert.deepEqual(second.tokens[TRANSFER_RS]?.dependent_scopes, [daScope, transferScope([COLLECTION_B])]);
  assert.equal(second.tokens[TRANSFER_RS]?.refresh_token, 'rt-2');

  // Another client's cache is not merged into.
  const other = withGrants({ ...login, client_id: 'someone-else' }, DEFAULT_CLIENT_ID, [grant(TRANSFER_RS, { scopes: [TRANSFER_SCOPE] })]);
  assert.deepEqual(Object.keys(other.tokens), [TRANSFER_RS]);
  assert.deepEqual(other.tokens[TRANSFER_RS]?.dependent_scopes, []);
});

test('token cache: lookupToken honours dependent-scope consent and the client id', () => {
  const cache = cacheOf([entry(AUTH_RS), entry(TRANSFER_RS, { dependent_scopes: [`${TRANSFER_SCOPE}[${DA_A}]`] })]);
  const found = (scope: string, c: TokenCacheFile | null = cache, clientId = DEFAULT_CLIENT_ID) => {
    const r = lookupToken(c, clientId, scope);
    return r.kind === 'found' ? r.token.resource_server : null;
  };
  assert.equal(found('openid'), AUTH_RS);
  assert.equal(found('email'), AUTH_RS);
  assert.equal(found(TRANSFER_SCOPE), TRANSFER_RS);
  assert.equal(found(transferScope([COLLECTION_A])), TRANSFER_RS);
  assert.equal(found(transferScope([COLLECTION_B])), null, 'that collection was never consented to');
  assert.equal(found(transferScope([COLLECTION_A, COLLECTION_B])), null);
  assert.equal(found(AP_SCOPE), null);
  assert.equal(found(TRANSFER_SCOPE, null), null);
  assert.equal(found(TRANSFER_SCOPE, cache, 'another-client'), null, 'refresh tokens belong to their client');

  assert.deepEqual(consentedScopes(cache, DEFAULT_CLIENT_ID).sort(), [...IDENTITY_SCOPES, `${TRANSFER_SCOPE}[${DA_A}]`].sort());
  assert.deepEqual(consentedScopes(cache, 'another-client'), []);
  assert.deepEqual(consentedScopes(null, DEFAULT_CLIENT_ID), []);
});

// ---------------------------------------------------------------------------------------
// Several processes writing one cache

const WRITER = `
import { TokenCache, TOKEN_CACHE_FORMAT } from ${JSON.stringify(pathToFileURL(path.join(ROOT, 'src/auth/token-cache.ts')).href)};
const [file, rs, iterations, clientId] = process.argv.slice(2);
const cache = new TokenCache(file, () => {});
process.stdout.write('ready\\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
for (let i = 1; i <= Number(iterations); i++) {
  await cache.update((current) => {
    const tokens = { ...(current?.tokens ?? {}) };
    const shared = tokens.shared;
    tokens.shared = { ...(shared ?? { resource_server: 'shared', access_token: 'x', refresh_token: null, scopes: [], dependent_scopes: [] }), expiration_time: (shared?.expiration_time ?? 0) + 1 };
    tokens[rs] = { resource_server: rs, access_token: 'at-' + rs + '-' + i, refresh_token: null, expiration_time: i, scopes: [], dependent_scopes: [] };
    return { format: TOKEN_CACHE_FORMAT, client_id: clientId, tokens };
  });
}
process.stdout.write('done\\n');
process.stdin.destroy();
`;

test('token cache: concurrent updates from several processes lose nothing', async (t) => {
  const { home, paths } = tempHome(t);
  const file = paths.tokensFile;
  const script = path.join(home, 'writer.mts');
  fs.writeFileSync(script, WRITER);
  const CHILDREN = 4;
  const ITERATIONS = 25;

  const children = Array.from({ length: CHILDREN }, (_, n) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', script, file, `proc-${n}`, String(ITERATIONS), DEFAULT_CLIENT_ID], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    proc.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const exited = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
    t.after(() => {
      if (proc.exitCode === null) proc.kill('SIGKILL');
    });
    return { proc, exited, out: () => stdout, err: () => stderr };
  });
  // Everyone starts at once, after tsx has loaded.
  const deadline = Date.now() + 20_000;
  while (!children.every((c) => c.out().includes('ready'))) {
    if (Date.now() > deadline) assert.fail(`writers did not start: ${children.map((c) => c.err()).join('\n')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  for (const c of children) c.proc.stdin.write('go\n');

  const cache = new TokenCache(file, () => {});
  let reads = 0;
  for (let i = 1; i <= ITERATIONS; i++) {
    await cache.update((current) => {
      const tokens = { ...(current?.tokens ?? {}) };
      const shared = tokens.shared;
      tokens.shared = { ...(shared ?? entry('shared', { scopes: [], refresh_token: null })), expiration_time: (shared?.expiration_time ?? 0) + 1 };
      tokens.parent = entry('parent', { access_token: `at-parent-${i}`, expiration_time: i, scopes: [] });
      return { format: TOKEN_CACHE_FORMAT, client_id: DEFAULT_CLIENT_ID, tokens };
    });
    // Readers in between never see half a file.
    assert.ok(cache.read());
    reads++;
  }
  const codes = await Promise.all(children.map((c) => c.exited));
  assert.deepEqual(
    codes,
    children.map(() => 0),
    children.map((c) => c.err()).join('\n'),
  );
  assert.ok(children.every((c) => c.out().includes('done')));
  assert.equal(reads, ITERATIONS);

  const final = readJson(file);
  assert.equal(final.format, TOKEN_CACHE_FORMAT);
  for (let n = 0; n < CHILDREN; n++) {
    assert.equal(final.tokens[`proc-${n}`]?.expiration_time, ITERATIONS, `proc-${n}'s last write is there`);
    assert.equal(final.tokens[`proc-${n}`]?.access_token, `at-proc-${n}-${ITERATIONS}`);
  }
  assert.equal(final.tokens.parent?.expiration_time, ITERATIONS);
  assert.equal(final.tokens.shared?.expiration_time, (CHILDREN + 1) * ITERATIONS, 'every increment of the shared counter survived');
  assert.equal(modeOf(file), '600');
  assert.deepEqual(fs.readdirSync(home).sort(), ['tokens.json', 'writer.mts'], 'no temp files or lock left');
});

// ---------------------------------------------------------------------------------------
// tokens.ts: UserTokens

const MARGIN_MS = 60_000;

async function userTokens(t: TestContext, fake: FakeAuth, scopes: readonly string[] = LOGIN_SCOPES) {
  const setup = await loggedInCache(t, fake, scopes);
  const clock = new FakeClock(Date.now());
  const tokens = new UserTokens(setup.cache, { client: setup.client, clock, refreshMarginMs: MARGIN_MS });
  const cachedTransfer = () => readJson(setup.file).tokens[TRANSFER_RS]!;
  return { ...setup, clock, tokens, cachedTransfer };
}

test('user tokens: the cached token while fresh; refreshed within the margin, and written to the cache', async (t) => {
  const fake = await fakeAuth(t);
  const u = await userTokens(t, fake, [...IDENTITY_SCOPES, transferScope([COLLECTION_A])]);
  const login = u.cachedTransfer();
  const original = login.access_token;
  assert.equal(await u.tokens.getToken(TRANSFER_SCOPE, { rejected: null }), original);
  assert.equal(await u.tokens.getToken(transferScope([COLLECTION_A]), { rejected: null }), original);
  assert.equal(await u.tokens.getToken('openid', { rejected: null }), readJson(u.file).tokens[AUTH_RS]!.access_token);
  // Just outside the margin: still the cached token.
  u.clock.jump(login.expiration_time * 1000 - MARGIN_MS - 1000 - u.clock.now());
  assert.equal(await u.tokens.getToken(TRANSFER_SCOPE, { rejected: null }), original);
  assert.equal(fake.grants.refresh_token, 0);

  // Inside the margin: refreshed (to a token that outlives the fake clock's lead on real time).
  fake.expiresInSeconds = 10 * 86_400;
  u.clock.jump(2000);
  const refreshed = await u.tokens.getToken(TRANSFER_SCOPE, { rejected: null });
  assert.notEqual(refreshed, original);
  assert.equal(fake.grants.refresh_token, 1);
  assert.equal(fake.accepts(refreshed, TRANSFER_SCOPE), true);
  const after = u.cachedTransfer();
  assert.equal(after.access_token, refreshed);
  assert.equal(after.refresh_token, login.refresh_token);
  assert.deepEqual(after.dependent_scopes, [transferScope([COLLECTION_A])], 'consent kept across the refresh');
  assert.ok(after.expiration_time >= login.expiration_time);
  assert.equal(readJson(u.file).tokens[AUTH_RS]!.access_token, grantFor(u.grants, AUTH_RS).accessToken, 'the auth token untouched');
  assert.equal(modeOf(u.file), '600');
  // Now fresh again: no second refresh.
  assert.equal(await u.tokens.getToken(TRANSFER_SCOPE, { rejected: null }), refreshed);
  assert.equal(fake.grants.refresh_token, 1);
});

test('user tokens: a token with less than the margin left is refreshed on first use (short-lived tokens)', async (t) => {
  const fake = await fakeAuth(t);
  fake.expiresInSeconds = 30; // under the 60 s margin from the start
  const u = await userTokens(t, fake);
  const login = u.cachedTransfer().access_token;
  const first = await u.tokens.getToken(TRANSFER_SCOPE, { rejected: null });
  assert.notEqual(first, login);
  assert.equal(fake.grants.refresh_token, 1);
  assert.equal(u.cachedTransfer().access_token, first);
  // Each use inside the margin refreshes again: the token never looks fresh.
  fake.expiresInSeconds = 3600;
  const second = await u.tokens.getToken(TRANSFER_SCOPE, { rejected: null });
  assert.notEqual(second, first);
  assert.equal(fake.grants.refresh_token, 2);
  assert.equal(await u.tokens.getToken(TRANSFER_SCOPE, { rejected: null }), second);
  assert.equal(fake.grants.refresh_token, 2);
});

test('user tokens: concurrent callers share one refresh; a rejected token is refreshed once (debounced)', async (t) => {
  const fake = await fakeAuth(t);
  const u = await userTokens(t, fake);
  const original = u.cachedTransfer().access_token;
  u.clock.jump(fake.expiresInSeconds * 1000);
  // Refreshed tokens outlive the fake clock's lead on real time.
  fake.expiresInSeconds = 10 * 86_400;
  const all = await Promise.all(Array.from({ length: 8 }, () => u.tokens.getToken(TRANSFER_SCOPE, { rejected: null })));
  assert.equal(new Set(all).size, 1);
  assert.notEqual(all[0], original);
  assert.equal(fake.grants.refresh_token, 1, 'one refresh for eight callers');
  const current = all[0]!;

  // A provider rejects the current token: a forced refresh.
  const forced = await u.tokens.getToken(TRANSFER_SCOPE, { rejected: current });
  assert.notEqual(forced, current);
  assert.equal(fake.grants.refresh_token, 2);
  // Another caller that held the same rejected token: gets the new one, no second refresh.
  assert.equal(await u.tokens.getToken(TRANSFER_SCOPE, { rejected: current }), forced);
  assert.equal(fake.grants.refresh_token, 2);
  // Concurrent rejections of one token also share a single refresh.
  const again = await Promise.all(Array.from({ length: 5 }, () => u.tokens.getToken(TRANSFER_SCOPE, { rejected: forced })));
  assert.equal(new Set(again).size, 1);
  assert.notEqual(again[0], forced);
  assert.equal(fake.grants.refresh_token, 3);
  assert.equal(u.cachedTransfer().access_token, again[0]);
  // Rejecting a token of another resource server does not refresh this one.
  assert.equal(await u.tokens.getToken(TRANSFER_SCOPE, { rejected: 'something-else' }), again[0]);
  assert.equal(fake.grants.refresh_token, 3);
});

test('user tokens: revoked login → LoginRequired; no consent → ConsentRequired; Auth down → AuthUnavailableError', async (t) => {
  const fake = await fakeAuth(t);
  const u = await userTokens(t, fake);
  const before = fs.readFileSync(u.file, 'utf8');
  u.clock.jump(fake.expiresInSeconds * 1000);

  fake.refuse.refresh_token = [500];
  await assert.rejects(u.tokens.getToken(TRANSFER_SCOPE, { rejected: null }), (err: unknown) => {
    assert.ok(err instanceof AuthUnavailableError, String(err));
    assert.equal(err.code, ERROR_CODES.AUTH_UNAVAILABLE);
    return true;
  });
  assert.equal(fs.readFileSync(u.file, 'utf8'), before, 'the cache is unchanged');

  fake.revokeAll();
  await assert.rejects(u.tokens.getToken(TRANSFER_SCOPE, { rejected: null }), (err: unknown) => {
    assertAuthRequired('LoginRequired', TRANSFER_SCOPE)(err);
    const message = (err as Error).message;
    assert.ok(message.includes(`globus-timer session login --scope '${TRANSFER_SCOPE}'`), message);
    assertNoSecretIn(message, fake);
    return true;
  });
  assert.equal(fs.readFileSync(u.file, 'utf8'), before);

  // Never consented: to another resource server, or to a collection's data_access.
  await assert.rejects(u.tokens.getToken(AP_SCOPE, { rejected: null }), assertAuthRequired('ConsentRequired', AP_SCOPE));
  const da = transferScope([COLLECTION_B]);
  await assert.rejects(u.tokens.getToken(da, { rejected: null }), assertAuthRequired('ConsentRequired', da));
  const other = new UserTokens(u.cache, {
    client: new AuthClient({ ...userSettings(fake), clientId: 'another-client' }),
    clock: u.clock,
    refreshMarginMs: MARGIN_MS,
  });
  await assert.rejects(other.getToken(TRANSFER_SCOPE, { rejected: null }), assertAuthRequired('ConsentRequired', TRANSFER_SCOPE));
  // No cache at all.
  const { paths } = tempHome(t);
  const empty = new UserTokens(new TokenCache(paths.tokensFile, () => {}), { client: u.client, clock: u.clock, refreshMarginMs: MARGIN_MS });
  await assert.rejects(empty.getToken(TRANSFER_SCOPE, { rejected: null }), assertAuthRequired('ConsentRequired', TRANSFER_SCOPE));
  assert.equal(fs.existsSync(paths.tokensFile), false);

  // An expired token without a refresh token: only a login helps.
  await u.cache.update((c) => ({ ...c!, tokens: { ...c!.tokens, [TRANSFER_RS]: { ...c!.tokens[TRANSFER_RS]!, refresh_token: null } } }));
  const calls = fake.requests.length;
  await assert.rejects(u.tokens.getToken(TRANSFER_SCOPE, { rejected: null }), assertAuthRequired('LoginRequired', TRANSFER_SCOPE));
  assert.equal(fake.requests.length, calls, 'Auth is not asked');
});

test('user tokens: a refresh answered with a consent error is ConsentRequired', async (t) => {
  const fake = await fakeAuth(t);
  const u = await userTokens(t, fake);
  u.clock.jump(fake.expiresInSeconds * 1000);
  // The fake has no consent_required injection: answer the refresh from a client stub.
  const failing = new (class extends AuthClient {
    override async refresh(): Promise<TokenGrant[]> {
      throw new AuthError('refused', 'Globus Auth token answered 403 consent_required', 'consent_required');
    }
  })(userSettings(fake));
  const tokens = new UserTokens(u.cache, { client: failing, clock: u.clock, refreshMarginMs: MARGIN_MS });
  await assert.rejects(tokens.getToken(TRANSFER_SCOPE, { rejected: null }), assertAuthRequired('ConsentRequired', TRANSFER_SCOPE));
});

test('user tokens: a logout during a refresh stays a logout', async (t) => {
  const fake = await fakeAuth(t);
  const u = await userTokens(t, fake);
  u.clock.jump(fake.expiresInSeconds * 1000);
  const logoutCache = new TokenCache(u.file, () => {});
  // The user logs out (another process) while the refresh is at Globus Auth.
  const slow = new (class extends AuthClient {
    override async refresh(refreshToken: string): Promise<TokenGrant[]> {
      const grants = await super.refresh(refreshToken);
      await logoutCache.update(() => null);
      return grants;
    }
  })(userSettings(fake));
  const tokens = new UserTokens(u.cache, { client: slow, clock: u.clock, refreshMarginMs: MARGIN_MS });
  const token = await tokens.getToken(TRANSFER_SCOPE, { rejected: null });
  assert.equal(fake.grants.refresh_token, 1);
  assert.ok(token);
  assert.equal(fs.existsSync(u.file), false, 'the refreshed token was not written back');
  await assert.rejects(tokens.getToken(TRANSFER_SCOPE, { rejected: null }), assertAuthRequired('ConsentRequired', TRANSFER_SCOPE));
  assert.equal(fs.existsSync(u.file), false);

  // Logged out and logged in again as another client meanwhile: that cache is left alone.
  const v = await userTokens(t, fake);
  v.clock.jump(fake.expiresInSeconds * 1000);
  const replacement = cacheOf([entry(AUTH_RS)], 'another-client');
  const relogin = new (class extends AuthClient {
    override async refresh(refreshToken: string): Promise<TokenGrant[]> {
      const grants = await super.refresh(refreshToken);
      await new TokenCache(v.file, () => {}).update(() => replacement);
      return grants;
    }
  })(userSettings(fake));
  await new UserTokens(v.cache, { client: relogin, clock: v.clock, refreshMarginMs: MARGIN_MS }).getToken(TRANSFER_SCOPE, { rejected: null });
  assert.deepEqual(readJson(v.file), replacement);
});

test('user tokens: a refreshed token that aged while its cache write waited for the lock is refreshed again, never handed out expired', async (t) => {
  // The crash-loop failure: a daemon killed inside a token-cache write leaves tokens.json.lock
  // behind; the next daemon's refresh is answered at once, but its write waits until the lock
  // goes stale (5 s) while the new token (3 s at the torture's fake Auth) expires. The runs
  // that asked for that refresh because of a 401 got the expired token, were refused again,
  // and their jobs went inactive: "401 after a refresh", though the user did nothing wrong.
  const fake = await fakeAuth(t);
  const u = await userTokens(t, fake);
  const login = u.cachedTransfer().access_token;
  fake.expireAccessTokens(login); // the provider refuses it: a 401, then getToken({ rejected })
  fake.expiresInSeconds = 600;
  // Someone else holds the cache lock (a live holder here, so nothing waits for seconds).
  const release = await lockfile.lock(u.file, { realpath: false, stale: 5_000 });
  let released = false;
  t.after(async () => {
    if (!released) await release();
  });
  const pending = u.tokens.getToken(TRANSFER_SCOPE, { rejected: login });
  for (let i = 0; i < 500 && fake.grants.refresh_token < 1; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(fake.grants.refresh_token, 1, 'the refresh was answered; its write waits for the lock');
  const first = fake.issuedSecrets().at(-1)!;
  // The lock is held while the first refreshed token expires.
  u.clock.jump(600_000);
  fake.expireAccessTokens(first);
  fake.expiresInSeconds = 10 * 86_400; // outlives the fake clock's lead on real time
  released = true;
  await release();
  const token = await pending;
  assert.notEqual(token, first, 'not the token that expired while the write waited');
  assert.equal(fake.accepts(token, TRANSFER_SCOPE), true, 'a token the provider accepts');
  assert.equal(fake.grants.refresh_token, 2);
  assert.equal(u.cachedTransfer().access_token, token);
  // Fresh now: no further refresh.
  assert.equal(await u.tokens.getToken(TRANSFER_SCOPE, { rejected: null }), token);
  assert.equal(fake.grants.refresh_token, 2);
});

// ---------------------------------------------------------------------------------------
// tokens.ts: ClientCredentialTokens

test('client-credential tokens: granted once, reused while fresh, regranted when rejected or near expiry', async (t) => {
  const fake = await fakeAuth(t);
  const clock = new FakeClock(Date.now());
  const tokens = new ClientCredentialTokens({ client: new AuthClient(confidentialSettings(fake)), clock, refreshMarginMs: MARGIN_MS });
  const all = await Promise.all(Array.from({ length: 4 }, () => tokens.getToken(TRANSFER_SCOPE, { rejected: null })));
  assert.equal(new Set(all).size, 1);
  const first = all[0]!;
  assert.equal(fake.grants.client_credentials, 1, 'concurrent callers share one grant');
  assert.equal(fake.accepts(first, TRANSFER_SCOPE), true);
  assert.equal(await tokens.getToken(TRANSFER_SCOPE, { rejected: null }), first);
  assert.equal(fake.grants.client_credentials, 1);

  const second = await tokens.getToken(TRANSFER_SCOPE, { rejected: first });
  assert.notEqual(second, first);
  assert.equal(fake.grants.client_credentials, 2);
  assert.equal(await tokens.getToken(TRANSFER_SCOPE, { rejected: first }), second, 'debounced');

  // Another scope is another token.
  const ap = await tokens.getToken(AP_SCOPE, { rejected: null });
  assert.equal(fake.accepts(ap, AP_SCOPE), true);
  assert.equal(fake.grants.client_credentials, 3);

  clock.jump(fake.expiresInSeconds * 1000 - MARGIN_MS + 1);
  const third = await tokens.getToken(TRANSFER_SCOPE, { rejected: null });
  assert.notEqual(third, second);
  assert.equal(fake.grants.client_credentials, 4);
});

test('client-credential tokens: a wrong secret is InvalidClient; a 500 is AuthUnavailableError', async (t) => {
  const fake = await fakeAuth(t);
  const clock = new FakeClock(Date.now());
  const wrong = new ClientCredentialTokens({ client: new AuthClient(confidentialSettings(fake, 'wrong-secret')), clock, refreshMarginMs: MARGIN_MS });
  await assert.rejects(wrong.getToken(TRANSFER_SCOPE, { rejected: null }), (err: unknown) => {
    assertAuthRequired('InvalidClient', TRANSFER_SCOPE)(err);
    const message = (err as Error).message;
    assert.match(message, /GLOBUS_TIMER_CLIENT_ID and GLOBUS_TIMER_CLIENT_SECRET/);
    assert.equal(message.includes('wrong-secret'), false);
    return true;
  });

  const good = new ClientCredentialTokens({ client: new AuthClient(confidentialSettings(fake)), clock, refreshMarginMs: MARGIN_MS });
  fake.refuse.client_credentials = [500];
  await assert.rejects(good.getToken(TRANSFER_SCOPE, { rejected: null }), (err: unknown) => {
    assert.ok(err instanceof AuthUnavailableError, String(err));
    assert.equal(err.code, ERROR_CODES.AUTH_UNAVAILABLE);
    return true;
  });
  // Not cached: the next call tries again and works.
  assert.ok(await good.getToken(TRANSFER_SCOPE, { rejected: null }));
  // A scope Auth does not know: consent (scope) trouble, not the client.
  await assert.rejects(good.getToken('bogus-scope', { rejected: null }), assertAuthRequired('ConsentRequired', 'bogus-scope'));
});

test('createTokenProvider: user tokens from the cache, or client credentials with a secret', async (t) => {
  const fake = await fakeAuth(t);
  const { paths } = tempHome(t);
  const base = { tokensFile: paths.tokensFile, clock: new FakeClock(Date.now()), refreshMarginMs: MARGIN_MS, warn: () => {} };
  const user = createTokenProvider({ ...base, env: { GLOBUS_SDK_SERVICE_URL_AUTH: fake.baseUrl } });
  assert.ok(user instanceof UserTokens);
  assert.equal(user.cache.file, paths.tokensFile);
  const cc = createTokenProvider({
    ...base,
    env: { GLOBUS_SDK_SERVICE_URL_AUTH: fake.baseUrl, GLOBUS_TIMER_CLIENT_ID: 'cc-client', GLOBUS_TIMER_CLIENT_SECRET: 'cc-secret' },
  });
  assert.ok(cc instanceof ClientCredentialTokens);
  assert.equal(fake.accepts(await cc.getToken(TRANSFER_SCOPE, { rejected: null }), TRANSFER_SCOPE), true);
  assert.equal(fs.existsSync(paths.tokensFile), false, 'client-credential tokens stay in memory');
  const explicit = createTokenProvider({ ...base, env: {}, settings: confidentialSettings(fake) });
  assert.ok(explicit instanceof ClientCredentialTokens);
});

// ---------------------------------------------------------------------------------------
// The `session` commands, in-process

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** The authorize URL the command printed, if any. */
  authorizeUrl: string | null;
}

interface CliWorld {
  fake: FakeAuth;
  env: NodeJS.ProcessEnv;
  tokensFile: string;
  runs: CliRun[];
  /** `answer` plays the user: given the authorize URL, the code to paste (default: log in at the fake). */
  cli(args: string[], opts?: { answer?: (url: string) => string; env?: NodeJS.ProcessEnv }): Promise<CliRun>;
  login(extra?: string[]): Promise<CliRun>;
  assertNoLeaks(): void;
}

const AUTHORIZE_URL = /https?:\/\/\S+\/v2\/oauth2\/authorize\?\S+/;

async function cliWorld(t: TestContext): Promise<CliWorld> {
  const fake = await fakeAuth(t);
  const { env: base, paths } = tempHome(t);
  const env: NodeJS.ProcessEnv = { ...base, GLOBUS_SDK_SERVICE_URL_AUTH: fake.baseUrl, GLOBUS_TIMER_NO_AUTOSTART: '1' };
  for (const k of ['GLOBUS_TIMER_CLIENT_ID', 'GLOBUS_TIMER_CLIENT_SECRET', 'GLOBUS_SDK_ENVIRONMENT', 'DISPLAY', 'WAYLAND_DISPLAY']) delete env[k];
  const runs: CliRun[] = [];
  const cli: CliWorld['cli'] = async (args, opts = {}) => {
    const out: string[] = [];
    const err: string[] = [];
    let authorizeUrl: string | null = null;
    const code = await runCli(args, {
      out: (s) => out.push(s),
      err: (s) => err.push(s),
      env: opts.env ?? env,
      interactive: false,
      readLine: async () => {
        authorizeUrl = AUTHORIZE_URL.exec(out.join('\n'))?.[0] ?? null;
        assert.ok(authorizeUrl, `an authorize URL was printed before the prompt: ${out.join('\n')}`);
        return (opts.answer ?? ((url) => fake.approve(url)))(authorizeUrl);
      },
    });
    const run = { code, stdout: out.join('\n'), stderr: err.join('\n'), authorizeUrl };
    runs.push(run);
    return run;
  };
  return {
    fake,
    env,
    tokensFile: paths.tokensFile,
    runs,
    cli,
    login: (extra = []) => cli(['session', 'login', '--no-browser', ...extra]),
    assertNoLeaks: () => assertNoSecretIn(runs.map((r) => `${r.stdout}\n${r.stderr}`).join('\n'), fake, { expectSecrets: false }),
  };
}

function requestedScopes(authorizeUrl: string | null): string[] {
  assert.ok(authorizeUrl);
  return splitScopes(new URL(authorizeUrl).searchParams.get('scope') ?? '');
}

test('session: login, whoami in three formats, logout, and whoami when logged out', async (t) => {
  const w = await cliWorld(t);
  assert.equal(fs.existsSync(w.tokensFile), false);
  const notYet = await w.cli(['session', 'whoami']);
  assert.equal(notYet.code, 1);
  assert.equal(notYet.stderr, `globus-timer: ${NOT_LOGGED_IN}`);

  const login = await w.login();
  assert.equal(login.code, 0, login.stderr);
  assert.match(login.stdout, /^Logged in as alice@example\.org$/m);
  assert.match(login.stdout, /Please log into Globus here/);
  assert.deepEqual(requestedScopes(login.authorizeUrl).sort(), [...LOGIN_SCOPES].sort());
  assert.equal(w.fake.grants.authorization_code, 1);
  assert.equal(modeOf(w.tokensFile), '600');
  const cache = readJson(w.tokensFile);
  assert.equal(cache.client_id, DEFAULT_CLIENT_ID);
  assert.deepEqual(Object.keys(cache.tokens).sort(), [AUTH_RS, TRANSFER_RS]);
  for (const e of Object.values(cache.tokens)) {
    assert.ok(e.access_token && e.refresh_token);
    assert.ok(w.fake.issuedSecrets().includes(e.access_token));
  }
  assert.deepEqual(
    fs.readdirSync(path.dirname(w.tokensFile)).filter((f) => f.startsWith('tokens.json')),
    ['tokens.json'],
  );

  const brief = await w.cli(['session', 'whoami']);
  assert.equal(brief.code, 0, brief.stderr);
  assert.equal(brief.stdout, 'alice@example.org');
  assert.equal(brief.stderr, '');

  const full = await w.cli(['session', 'whoami', '--format', 'full']);
  assert.equal(full.code, 0, full.stderr);
  const lines = full.stdout.split('\n');
  assert.equal(lines.length, 3);
  assert.deepEqual(
    lines[0]!.split('|').map((s) => s.trim()),
    ['name', 'email', 'preferred_username', 'organization'],
  );
  assert.match(lines[1]!, /^-+-\|-+-\|-+-\|-+$/);
  assert.deepEqual(
    lines[2]!.split('|').map((s) => s.trim()),
    ['Alice Example', 'alice@example.org', 'alice@example.org', 'Example University'],
  );

  const json = await w.cli(['session', 'whoami', '--format', 'json']);
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(JSON.parse(json.stdout), {
    name: 'Alice Example',
    email: 'alice@example.org',
    preferred_username: 'alice@example.org',
    organization: 'Example University',
  });
  assert.equal(w.fake.grants.refresh_token, 0, 'fresh tokens are used as they are');

  const logout = await w.cli(['session', 'logout']);
  assert.equal(logout.code, 0, logout.stderr);
  assert.equal(logout.stdout, 'Successfully logged out.');
  assert.equal(fs.existsSync(w.tokensFile), false);
  assert.equal(w.fake.revocations.length, 0, 'logout only forgets');

  const after = await w.cli(['session', 'whoami']);
  assert.equal(after.code, 1);
  assert.equal(after.stdout, '');
  assert.equal(after.stderr, 'globus-timer: Not logged in yet; use `globus-timer session login` to initialize your session');
  // Logging out twice is fine.
  assert.equal((await w.cli(['session', 'logout'])).code, 0);
  w.assertNoLeaks();
});

test('session: whoami refreshes a token about to expire and keeps it in the cache', async (t) => {
  const w = await cliWorld(t);
  w.fake.expiresInSeconds = 30; // under the CLI's 60 s refresh margin
  assert.equal((await w.login()).code, 0);
  const before = readJson(w.tokensFile).tokens[AUTH_RS]!;
  w.fake.expiresInSeconds = 3600;
  const whoami = await w.cli(['session', 'whoami']);
  assert.equal(whoami.code, 0, whoami.stderr);
  assert.equal(whoami.stdout, 'alice@example.org');
  assert.equal(w.fake.grants.refresh_token, 1);
  const after = readJson(w.tokensFile).tokens[AUTH_RS]!;
  assert.notEqual(after.access_token, before.access_token);
  assert.equal(after.refresh_token, before.refresh_token);
  assert.equal(modeOf(w.tokensFile), '600');

  // Consent rescinded at Globus: whoami says what to do.
  w.fake.revokeAll();
  const refused = await w.cli(['session', 'whoami']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /couldn't get user information from Globus Auth .*session logout/);
  w.assertNoLeaks();
});

test('session: revoke posts every access and refresh token to Auth, then forgets them', async (t) => {
  const w = await cliWorld(t);
  assert.equal((await w.login()).code, 0);
  const cache = readJson(w.tokensFile);
  const secrets = Object.values(cache.tokens).flatMap((e) => [e.access_token, e.refresh_token!]);
  assert.equal(secrets.length, 4);

  const revoke = await w.cli(['session', 'revoke']);
  assert.equal(revoke.code, 0, revoke.stderr);
  assert.equal(revoke.stdout, 'Successfully revoked permission for all Timer operations.');
  assert.deepEqual([...w.fake.revocations].sort(), [...secrets].sort());
  assert.equal(fs.existsSync(w.tokensFile), false);
  for (const e of Object.values(cache.tokens)) assert.equal(w.fake.accepts(e.access_token, e.scopes[0]!), false);

  const again = await w.cli(['session', 'revoke']);
  assert.equal(again.code, 1);
  assert.equal(again.stderr, `globus-timer: ${NOT_LOGGED_IN}`);
  w.assertNoLeaks();
});

test('session: revoke keeps the cache when Auth cannot be reached', async (t) => {
  const w = await cliWorld(t);
  assert.equal((await w.login()).code, 0);
  const before = fs.readFileSync(w.tokensFile, 'utf8');
  const port = await freePort();
  const down = await w.cli(['session', 'revoke'], { env: { ...w.env, GLOBUS_SDK_SERVICE_URL_AUTH: `http://127.0.0.1:${port}` } });
  assert.equal(down.code, 1);
  assert.match(down.stderr, /Unable to revoke login: .*the tokens are kept, run this command again/);
  assert.equal(fs.readFileSync(w.tokensFile, 'utf8'), before);
  w.assertNoLeaks();
});

test('session: login --scope adds consents, and the next login asks for them again', async (t) => {
  const w = await cliWorld(t);
  const da = transferScope([COLLECTION_A]);
  const first = await w.login(['--scope', da, '--scope', AP_SCOPE]);
  assert.equal(first.code, 0, first.stderr);
  const asked = requestedScopes(first.authorizeUrl);
  for (const s of ['openid', 'profile', 'email', da, AP_SCOPE]) assert.ok(asked.includes(s), `asked for ${s}: ${asked.join(' ')}`);
  assert.equal(asked.includes(TRANSFER_SCOPE), false, 'the transfer scope once, with its dependency');
  assert.equal(new Set(asked.map(baseScope)).size, asked.length, 'one scope per base');

  const cache = readJson(w.tokensFile);
  assert.deepEqual(Object.keys(cache.tokens).sort(), ['actions.globus.org', AUTH_RS, TRANSFER_RS]);
  assert.deepEqual(cache.tokens[TRANSFER_RS]?.dependent_scopes, [da]);
  assert.equal(lookupToken(cache, DEFAULT_CLIENT_ID, da).kind, 'found');
  assert.equal(lookupToken(cache, DEFAULT_CLIENT_ID, AP_SCOPE).kind, 'found');

  // A plain login later: the earlier consents are asked for again, and another collection is added.
  const second = await w.login(['--scope', transferScope([COLLECTION_B])]);
  assert.equal(second.code, 0, second.stderr);
  const again = requestedScopes(second.authorizeUrl);
  assert.ok(again.includes(AP_SCOPE), again.join(' '));
  assert.ok(again.includes('openid'));
  const transferAsked = again.filter((s) => baseScope(s) === TRANSFER_SCOPE);
  assert.equal(transferAsked.length, 1);
  assert.deepEqual(parseScope(transferAsked[0]!).deps.sort(), [DA_A, DA_B].sort());
  const third = await w.login();
  assert.equal(third.code, 0, third.stderr);
  const thirdAsked = requestedScopes(third.authorizeUrl);
  assert.ok(thirdAsked.includes(AP_SCOPE));
  assert.deepEqual(parseScope(thirdAsked.find((s) => baseScope(s) === TRANSFER_SCOPE)!).deps.sort(), [DA_A, DA_B].sort());
  const final = readJson(w.tokensFile);
  assert.equal(lookupToken(final, DEFAULT_CLIENT_ID, transferScope([COLLECTION_A, COLLECTION_B])).kind, 'found');
  assert.equal(w.fake.grants.authorization_code, 3);
  w.assertNoLeaks();
});

test('session: login failures: a bad code, no code, and a confidential client', async (t) => {
  const w = await cliWorld(t);
  const bad = await w.cli(['session', 'login', '--no-browser'], { answer: () => 'not-a-real-code' });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /Globus Auth did not accept the code .*invalid_grant.*session login/);
  assert.equal(fs.existsSync(w.tokensFile), false);

  const none = await w.cli(['session', 'login', '--no-browser'], { answer: () => '   ' });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no authorization code was entered/);

  const down = await w.cli(['session', 'login', '--no-browser'], {
    answer: (url) => {
      w.fake.refuse.authorization_code = [500];
      return w.fake.approve(url);
    },
  });
  assert.equal(down.code, 1);
  assert.match(down.stderr, /answered 500/);
  assert.equal(fs.existsSync(w.tokensFile), false);

  const cc = await w.cli(['session', 'login', '--no-browser'], {
    env: { ...w.env, GLOBUS_TIMER_CLIENT_ID: 'cc-client', GLOBUS_TIMER_CLIENT_SECRET: 'cc-secret' },
  });
  assert.equal(cc.code, 2);
  assert.match(cc.stderr, /GLOBUS_TIMER_CLIENT_SECRET is set/);
  assert.equal(cc.stderr.includes('cc-secret'), false);
  assert.equal(w.fake.grants.authorization_code, 0);
  w.assertNoLeaks();
});

test('session: a cache readable by others is tightened and the user warned', async (t) => {
  const w = await cliWorld(t);
  assert.equal((await w.login()).code, 0);
  fs.chmodSync(w.tokensFile, 0o644);
  const whoami = await w.cli(['session', 'whoami']);
  assert.equal(whoami.code, 0, whoami.stderr);
  assert.equal(whoami.stdout, 'alice@example.org');
  assert.match(whoami.stderr, /^globus-timer: warning: token cache .*tokens\.json was readable by others \(mode 644\); tightened to 600$/);
  assert.equal(modeOf(w.tokensFile), '600');
  w.assertNoLeaks();
});

test('session: a corrupt cache names `session logout`', async (t) => {
  const w = await cliWorld(t);
  fs.writeFileSync(w.tokensFile, '{"format": "globus-timer-tokens/1", "tokens": ', { mode: 0o600 });
  const whoami = await w.cli(['session', 'whoami']);
  assert.equal(whoami.code, 1);
  assert.match(whoami.stderr, /token cache .*tokens\.json is unusable .*run: globus-timer session logout, then log in again/);
});

test('session: logout recovers from a corrupt cache, as the error message tells the user', async (t) => {
  const w = await cliWorld(t);
  fs.writeFileSync(w.tokensFile, '{not json', { mode: 0o600 });
  const logout = await w.cli(['session', 'logout']);
  assert.equal(logout.code, 0, logout.stderr);
  assert.equal(fs.existsSync(w.tokensFile), false);
  assert.equal((await w.login()).code, 0);
});

// ---------------------------------------------------------------------------------------

test('token cache: temp files left by a process killed mid-write are removed by the next write and by logout', async (t) => {
  const { paths } = tempHome(t);
  const cache = new TokenCache(paths.tokensFile, () => {});
  await cache.update(() => cacheOf([entry('transfer.api.globus.org')]));
  const orphan = `${paths.tokensFile}.4242.deadbeef.tmp`;
  fs.writeFileSync(orphan, JSON.stringify(cacheOf([entry('transfer.api.globus.org')])), { mode: 0o600 });
  await cache.update((c) => c);
  assert.equal(fs.existsSync(orphan), false, 'the next write removes it');
  fs.writeFileSync(orphan, '{}', { mode: 0o600 });
  await clearTokenCache(cache);
  assert.deepEqual(
    fs.readdirSync(path.dirname(paths.tokensFile)).filter((n) => n.startsWith('tokens.json')),
    [],
    'logout leaves no copy of the tokens',
  );
});
