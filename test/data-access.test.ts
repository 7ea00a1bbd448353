/**
 * Automatic data_access detection (auth/data-access.ts): Transfer's `endpoint.get` for each
 * collection of a transfer, made through @globus/sdk over our HTTP, against the fake Globus
 * Auth and the fake Transfer (test/support/) on 127.0.0.1, with the user's token from a real
 * token cache in a temp dir.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { AuthClient, pkcePair } from '../src/auth/auth-client.ts';
import {
  collectionsNeedingDataAccess,
  dataAccessDepsFromEnv,
  dataAccessHint,
  needsDataAccess,
  transferBaseUrl,
  type DataAccessDeps,
  type UnknownReason,
} from '../src/auth/data-access.ts';
import { DEFAULT_CLIENT_ID } from '../src/auth/environment.ts';
import { TokenCache, withGrants } from '../src/auth/token-cache.ts';
import { ALLOW_HTTP_TOKENS_ENV } from '../src/auth/token-rules.ts';
import type { TokenProvider } from '../src/auth/tokens.ts';
import { IDENTITY_SCOPES, TRANSFER_SCOPE } from '../src/core/scopes.ts';
import { startFakeAuth, type FakeAuth } from './support/auth.ts';
import { freePort, runCliProcess, tempHome } from './support/env.ts';
import { guestCollection, mappedCollection, personalCollection, startFakeTransfer, type FakeTransfer } from './support/fake-transfer.ts';

const MAPPED = '2ef9a1c4-0b7e-4c5e-9a49-6c2f3d1e8a01';
const MAPPED_HA = '2ef9a1c4-0b7e-4c5e-9a49-6c2f3d1e8a02';
const GUEST = '2ef9a1c4-0b7e-4c5e-9a49-6c2f3d1e8a03';
const PERSONAL = '2ef9a1c4-0b7e-4c5e-9a49-6c2f3d1e8a04';
const UNKNOWN = '2ef9a1c4-0b7e-4c5e-9a49-6c2f3d1e8a05';

interface World {
  auth: FakeAuth;
  transfer: FakeTransfer;
  env: NodeJS.ProcessEnv;
  /** The user's Transfer access token, as the login stored it. */
  transferToken: string;
  deps(): DataAccessDeps;
}

/** Fake Auth and Transfer, and a user logged in (real token cache in a temp GLOBUS_TIMER_HOME). */
async function world(t: TestContext, { login = true } = {}): Promise<World> {
  const auth = await startFakeAuth();
  t.after(() => auth.close());
  const transfer = await startFakeTransfer((token) => auth.accepts(token, TRANSFER_SCOPE));
  t.after(() => transfer.close());
  transfer.collections.set(MAPPED, mappedCollection(MAPPED));
  transfer.collections.set(MAPPED_HA, mappedCollection(MAPPED_HA, { highAssurance: true }));
  transfer.collections.set(GUEST, guestCollection(GUEST, MAPPED));
  transfer.collections.set(PERSONAL, personalCollection(PERSONAL));
  const { env: base, paths } = tempHome(t);
  const env = { ...base, GLOBUS_SDK_SERVICE_URL_AUTH: auth.baseUrl, GLOBUS_SDK_SERVICE_URL_TRANSFER: transfer.baseUrl };
  let transferToken = '';
  if (login) {
    const client = new AuthClient({ baseUrl: auth.baseUrl, clientId: DEFAULT_CLIENT_ID, clientSecret: null });
    const scopes = [...IDENTITY_SCOPES, TRANSFER_SCOPE];
    const { verifier, challenge } = pkcePair();
    const grants = await client.exchangeCode(auth.approve(client.authorizeUrl(scopes, challenge)), verifier);
    await new TokenCache(paths.tokensFile, () => {}).update((current) => withGrants(current, DEFAULT_CLIENT_ID, grants, scopes));
    transferToken = grants.find((g) => g.resourceServer === 'transfer.api.globus.org')!.accessToken;
  }
  return { auth, transfer, env, transferToken, deps: () => dataAccessDepsFromEnv(env, () => {}) };
}

/** The deps with `onUnknown` recording why the answer was null. */
function explained(deps: DataAccessDeps): { deps: DataAccessDeps; why: UnknownReason[] } {
  const why: UnknownReason[] = [];
  return { deps: { ...deps, onUnknown: (r) => why.push(r) }, why };
}

/** A token provider that hands out a fixed token and counts the asks. */
function fixedTokens(token: string | null): TokenProvider & { asked: number } {
  const p = {
    asked: 0,
    async getToken() {
      p.asked += 1;
      return token;
    },
  };
  return p;
}

/** A loopback server that records what reaches it and answers 200 `{}`. */
async function bystander(t: TestContext): Promise<{ url: string; seen: http.IncomingHttpHeaders[] }> {
  const seen: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

test('data access: a mapped collection that is not high-assurance needs it; high-assurance, guest and personal ones do not', async (t) => {
  const w = await world(t);
  assert.deepEqual(await collectionsNeedingDataAccess([MAPPED, GUEST], w.deps()), [MAPPED]);
  assert.deepEqual(await collectionsNeedingDataAccess([GUEST, MAPPED], w.deps()), [MAPPED]);
  assert.deepEqual(await collectionsNeedingDataAccess([MAPPED_HA, GUEST], w.deps()), []);
  assert.deepEqual(await collectionsNeedingDataAccess([PERSONAL, MAPPED_HA], w.deps()), []);
  // The same collection on both sides is asked about once; ids come back in lower case.
  w.transfer.requests.length = 0;
  assert.deepEqual(await collectionsNeedingDataAccess([MAPPED.toUpperCase(), MAPPED], w.deps()), [MAPPED]);
  assert.equal(w.transfer.requests.length, 1);

  // Each request is the SDK's endpoint.get, with the user's Transfer token, through our HTTP.
  const req = w.transfer.requests[0]!;
  assert.equal(req.method, 'GET');
  assert.equal(req.path, `/v0.10/endpoint/${MAPPED}`);
  assert.equal(req.headers.authorization, `Bearer ${w.transferToken}`);
  assert.match(String(req.headers['x-globus-client-info']), /^product=javascript-sdk/);
  assert.equal(req.headers['user-agent'], 'globus-timer');
});

test('data access: globus-cli rule, read from the document alone', () => {
  assert.equal(needsDataAccess(mappedCollection(MAPPED)), true);
  assert.equal(needsDataAccess(mappedCollection(MAPPED, { highAssurance: true })), false);
  // No high_assurance field at all: not "false", so not asked for (as globus-cli's `is False`).
  const { high_assurance: _, ...noField } = mappedCollection(MAPPED);
  assert.equal(needsDataAccess(noField), false);
  assert.equal(needsDataAccess(guestCollection(GUEST, MAPPED)), false);
  assert.equal(needsDataAccess(null), false);
});

test('data access: not logged in, or no token at all: null, and Transfer is not asked', async (t) => {
  const w = await world(t, { login: false });
  const e = explained(w.deps());
  assert.equal(await collectionsNeedingDataAccess([MAPPED, GUEST], e.deps), null);
  assert.equal(await collectionsNeedingDataAccess([MAPPED], { ...e.deps, tokens: fixedTokens(null) }), null);
  assert.equal(w.transfer.requests.length, 0);
  // "no-token": the login that follows says what to do, so the caller may keep quiet.
  assert.deepEqual(
    e.why.map((r) => r.kind),
    ['no-token', 'no-token'],
  );
  assert.match(e.why[0]!.message, /session login/);
});

test('data access: Transfer unreachable, failing, slow, or not knowing a collection: null', async (t) => {
  const w = await world(t);
  const nowhere = `http://127.0.0.1:${await freePort()}`;
  const e = explained(dataAccessDepsFromEnv({ ...w.env, GLOBUS_SDK_SERVICE_URL_TRANSFER: nowhere }, () => {}));
  assert.equal(await collectionsNeedingDataAccess([MAPPED], e.deps), null);
  assert.equal(e.why[0]?.kind, 'failed');
  assert.match(e.why[0]!.message, /^cannot reach 127\.0\.0\.1:\d+/);
  // The hint the caller prints: one line, what to do, no token.
  const hint = dataAccessHint(e.why[0]!);
  assert.equal(hint.split('\n').length, 1);
  assert.match(hint, /give --data-access <its UUID>$/);
  assert.equal(hint.includes(w.transferToken), false);

  const f = explained(w.deps());
  w.transfer.inject.push({ status: 503, body: { code: 'ServiceUnavailable', message: 'down for maintenance' } });
  assert.equal(await collectionsNeedingDataAccess([MAPPED], f.deps), null);

  w.transfer.inject.push('hang');
  const started = Date.now();
  assert.equal(await collectionsNeedingDataAccess([MAPPED], { ...f.deps, timeoutMs: 200 }), null);
  assert.ok(Date.now() - started < 5_000, 'gives up at its timeout');

  // One of two unknown (404): no answer for the pair, rather than half of one.
  assert.equal(await collectionsNeedingDataAccess([MAPPED, UNKNOWN], f.deps), null);
  // A token Transfer does not take (401).
  assert.equal(await collectionsNeedingDataAccess([MAPPED], { ...f.deps, tokens: fixedTokens('not-a-token') }), null);
  // An answer that is not this collection's endpoint document.
  w.transfer.inject.push({ status: 200, body: { DATA_TYPE: 'endpoint', id: GUEST, entity_type: 'GCSv5_mapped_collection', high_assurance: false } });
  assert.equal(await collectionsNeedingDataAccess([MAPPED], f.deps), null);
  assert.deepEqual(
    f.why.map((r) => r.kind),
    ['failed', 'failed', 'failed', 'failed', 'failed'],
  );
  const [down, slow, notFound, badToken, notIts] = f.why.map((r) => r.message);
  assert.equal(down, `Globus Transfer answered 503 ServiceUnavailable for collection ${MAPPED}`);
  assert.match(String(slow), /timed out|timeout/i);
  assert.equal(notFound, `Globus Transfer answered 404 EndpointNotFound for collection ${UNKNOWN}`);
  assert.equal(badToken, `Globus Transfer answered 401 AuthenticationFailed for collection ${MAPPED}`);
  assert.equal(notIts, `Globus Transfer's answer for collection ${MAPPED} is not its endpoint document`);

  // Not a UUID: never put into a request path.
  const before = w.transfer.requests.length;
  const odd = explained(w.deps());
  assert.equal(await collectionsNeedingDataAccess(['../../v0.10/task_list'], odd.deps), null);
  assert.equal(w.transfer.requests.length, before);
  assert.equal(odd.why[0]?.kind, 'refused');
});

test('data access: the Transfer token goes only where the token rules allow', async (t) => {
  const w = await world(t);
  // Plain http without GLOBUS_TIMER_ALLOW_HTTP_TOKENS: refused before the token is even fetched.
  const strictEnv = { ...w.env, [ALLOW_HTTP_TOKENS_ENV]: '' };
  const tokens = fixedTokens(w.transferToken);
  const strict = explained({ ...dataAccessDepsFromEnv(strictEnv, () => {}), tokens });
  assert.equal(await collectionsNeedingDataAccess([MAPPED], strict.deps), null);
  assert.equal(tokens.asked, 0);
  assert.equal(strict.why[0]?.kind, 'refused');
  assert.match(strict.why[0]!.message, /no Globus token is sent over plain http/);
  assert.equal(w.transfer.requests.length, 0);

  // A host that is not Transfer's in this environment (the override names another one).
  const other = await bystander(t);
  const elsewhere = explained({ ...w.deps(), transferUrl: other.url, tokens });
  assert.equal(await collectionsNeedingDataAccess([MAPPED], elsewhere.deps), null);
  assert.equal(tokens.asked, 0);
  assert.equal(other.seen.length, 0);
  assert.match(String(elsewhere.why[0]?.message), /^a token for Globus Transfer .* goes only to /);

  // Transfer redirecting elsewhere: not followed, so the token stays with Transfer.
  w.transfer.inject.push({ status: 302, headers: { location: `${other.url}/v0.10/endpoint/${MAPPED}` } });
  const redirected = explained(w.deps());
  assert.equal(await collectionsNeedingDataAccess([MAPPED], redirected.deps), null);
  assert.equal(other.seen.length, 0);
  assert.match(String(redirected.why[0]?.message), /^Globus Transfer answered 302 /);

  // The SDK's own choice of host (process.env) does not move the request: ours does.
  const saved = process.env.GLOBUS_SDK_SERVICE_URL_TRANSFER;
  process.env.GLOBUS_SDK_SERVICE_URL_TRANSFER = other.url;
  t.after(() => {
    if (saved === undefined) delete process.env.GLOBUS_SDK_SERVICE_URL_TRANSFER;
    else process.env.GLOBUS_SDK_SERVICE_URL_TRANSFER = saved;
  });
  assert.deepEqual(await collectionsNeedingDataAccess([MAPPED], w.deps()), [MAPPED]);
  assert.equal(other.seen.length, 0);
});

test("data access: Transfer's host follows the environment, as Auth's does", () => {
  assert.equal(transferBaseUrl({}), 'https://transfer.api.globus.org');
  assert.equal(transferBaseUrl({ GLOBUS_SDK_ENVIRONMENT: 'sandbox' }), 'https://transfer.api.sandbox.globuscs.info');
  assert.equal(transferBaseUrl({ GLOBUS_SDK_ENVIRONMENT: 'preview' }), 'https://transfer.api.preview.globus.org');
  assert.equal(transferBaseUrl({ GLOBUS_SDK_SERVICE_URL_TRANSFER: 'http://127.0.0.1:9999/', GLOBUS_SDK_ENVIRONMENT: 'sandbox' }), 'http://127.0.0.1:9999');
  // Auth overridden alone does not move Transfer.
  assert.equal(transferBaseUrl({ GLOBUS_SDK_SERVICE_URL_AUTH: 'http://127.0.0.1:1' }), 'https://transfer.api.globus.org');
});

test('job transfer asks Transfer itself: a mapped collection adds its data_access dependency to the job scope, with no --data-access', async (t) => {
  const w = await world(t);
  // A daemon is not needed: the consent for the new scope is missing, so the CLI stops before submitting, naming it.
  const env = { ...w.env, GLOBUS_TIMER_NO_AUTOSTART: '1', [ALLOW_HTTP_TOKENS_ENV]: '1', GLOBUS_TIMER_TRANSFER_ACTION_URL: 'http://127.0.0.1:9/transfer/run' };
  const args = [
    'job',
    'transfer',
    '--name',
    'backup',
    '--source-endpoint',
    MAPPED,
    '--dest-endpoint',
    GUEST,
    '--item',
    '/a',
    '/b',
    'false',
    '--interval',
    '3600',
  ];
  const r = await runCliProcess(args, env);
  assert.equal(r.code, 1, r.stderr);
  const dependent = `${TRANSFER_SCOPE}[*https://auth.globus.org/scopes/${MAPPED}/data_access]`;
  assert.ok(r.stderr.includes(`globus-timer session login --scope '${dependent}'`), r.stderr);
  assert.deepEqual(
    w.transfer.requests.map((q) => q.path),
    [`/v0.10/endpoint/${MAPPED}`, `/v0.10/endpoint/${GUEST}`],
  );

  // Transfer out of reach: one line saying how to name a collection by hand, and the job's scope is as given.
  const away = await runCliProcess(args, { ...env, GLOBUS_SDK_SERVICE_URL_TRANSFER: `http://127.0.0.1:${await freePort()}` });
  assert.match(
    away.stderr,
    /^globus-timer: could not ask Globus Transfer which collections need data_access consent \(.*\); for a GCSv5 mapped collection, give --data-access <its UUID>\n/,
  );
});
