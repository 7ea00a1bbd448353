import type { Clock } from '../core/clock.ts';
import { AuthError, AuthRequiredError, AuthUnavailableError } from '../core/errors.ts';
import { AuthClient, type TokenGrant } from './auth-client.ts';
import { authSettings, type AuthSettings } from './environment.ts';
import { loginCommand, parseScope } from '../core/scopes.ts';
import { lookupToken, TokenCache, withGrants } from './token-cache.ts';
import { resolvePaths } from '../config/paths.ts';
import { systemClock } from '../core/clock.ts';

/**
 * Access tokens for job scopes: the real `TokenProvider` behind the runner's seam, and
 * what the CLI uses too (whoami). Two sources, picked from the environment:
 * - a user's tokens from the token cache (after `session login`), refreshed shortly
 *   before they expire and once more after a 401;
 * - with GLOBUS_TIMER_CLIENT_ID + GLOBUS_TIMER_CLIENT_SECRET, a confidential client's
 *   own tokens from the client-credentials grant (headless servers), kept in memory only.
 */

export interface TokenProvider {
  /**
   * An access token for the scope, or null to send no Authorization header. `rejected` is
   * a token a provider has just refused (401/403): the answer is then a different token,
   * refreshed unless another caller has refreshed it already.
   */
  getToken(scope: string, opts: { rejected: string | null }): Promise<string | null>;
  /**
   * Whether a token for the scope can be had without asking the user, answered without the
   * network (the REST API creates a job without consent `inactive`, as the hosted service
   * does). Absent: not known, and the job's first run finds out.
   */
  hasConsent?(scope: string): boolean;
}

/** Until a real provider is wired in (and for jobs without a scope): no token at all. */
export const NO_TOKENS: TokenProvider = { getToken: async () => null };

interface TokenSourceDeps {
  client: AuthClient;
  clock: Clock;
  refreshMarginMs: number;
}

/** A refresh's answer: the new access token, when it expires, and when Auth gave it. */
interface Refreshed {
  accessToken: string;
  expiresAtMs: number;
  answeredAtMs: number;
}

/** Refreshes one getToken call may go through when refreshed tokens keep aging in the cache lock (see getToken). */
const MAX_REFRESH_ROUNDS = 3;

/** A user's tokens from the token cache. */
export class UserTokens implements TokenProvider {
  readonly cache: TokenCache;
  readonly #deps: TokenSourceDeps;
  /** One refresh per resource server at a time; concurrent callers share it. */
  readonly #refreshing = new Map<string, Promise<Refreshed>>();
  /**
   * Per resource server, a refreshed token the cache file could not take (its lock was held
   * by a process killed mid-write), with the token it replaced. Used while the file still
   * holds that old token: going back to it would mean a needless refresh (or a 401 and a
   * refresh) for every run until the file takes a write again.
   */
  readonly #unsaved = new Map<string, { replaced: string; accessToken: string; expiresAtMs: number }>();

  constructor(cache: TokenCache, deps: TokenSourceDeps) {
    this.cache = cache;
    this.#deps = deps;
  }

  /** The cache holds a token whose consent covers the scope (expired or not: a refresh needs no user). */
  hasConsent(scope: string): boolean {
    return lookupToken(this.cache.read(), this.#deps.client.settings.clientId, scope).kind === 'found';
  }

  async getToken(scope: string, { rejected }: { rejected: string | null }): Promise<string> {
    for (let round = 1; ; round += 1) {
      const got = await this.#currentOrRefreshed(scope, rejected);
      if (typeof got === 'string') return got;
      // A refresh's answer comes back only once it is in the cache, and the cache lock may
      // have kept it waiting (up to the lock's stale time after a holder died mid-write):
      // a token that spent its life waiting there is not handed out, since the provider
      // would refuse it and the runner would take that for "refused after a refresh" and
      // deactivate the job. The file holds it now, as aged as it is: the next round
      // refreshes again. Bounded, for tokens whose whole life is shorter than the wait.
      if (round >= MAX_REFRESH_ROUNDS || !this.#agedWhileSaved(got)) return got.accessToken;
    }
  }

  /** Did this refreshed token, fresh when Auth answered, come within the margin of its expiry before it was handed out? */
  #agedWhileSaved(got: Refreshed): boolean {
    const { clock, refreshMarginMs } = this.#deps;
    return got.expiresAtMs - got.answeredAtMs > refreshMarginMs && got.expiresAtMs - clock.now() <= refreshMarginMs;
  }

  /** The token to use as it stands (a string), or the answer of a refresh made for it. */
  async #currentOrRefreshed(scope: string, rejected: string | null): Promise<string | Refreshed> {
    const { client, clock, refreshMarginMs } = this.#deps;
    const lookup = lookupToken(this.cache.read(), client.settings.clientId, scope);
    if (lookup.kind === 'missing') {
      throw new AuthRequiredError('ConsentRequired', [scope], `no consent for scope ${scope}; run: ${loginCommand([scope])}`);
    }
    const { token } = lookup;
    const rs = token.resource_server;
    let unsaved = this.#unsaved.get(rs);
    if (unsaved && unsaved.replaced !== token.access_token) {
      this.#unsaved.delete(rs); // the file moved on (a later refresh, a new login): trust it
      unsaved = undefined;
    }
    if (unsaved) {
      // The file still holds the token this one replaced: never go back to that one.
      if (unsaved.expiresAtMs - clock.now() > refreshMarginMs && unsaved.accessToken !== rejected) return unsaved.accessToken;
    } else if (token.expiration_time * 1000 - clock.now() > refreshMarginMs && token.access_token !== rejected) {
      return token.access_token;
    }
    if (!token.refresh_token) {
      throw new AuthRequiredError('LoginRequired', [scope], `the token for ${rs} has expired and there is no refresh token; run: ${loginCommand([scope])}`);
    }
    let pending = this.#refreshing.get(rs);
    if (!pending) {
      pending = this.#refresh(rs, token.access_token, token.refresh_token, scope).finally(() => this.#refreshing.delete(rs));
      this.#refreshing.set(rs, pending);
    }
    return pending;
  }

  async #refresh(rs: string, replaced: string, refreshToken: string, scope: string): Promise<Refreshed> {
    const { client, clock } = this.#deps;
    let grants: TokenGrant[];
    try {
      grants = await client.refresh(refreshToken);
    } catch (err) {
      throw authFailure(err, 'LoginRequired', scope, `refreshing the token for ${rs}`);
    }
    const grant = grants.find((g) => g.resourceServer === rs) ?? grants[0]!;
    const refreshed: Refreshed = { accessToken: grant.accessToken, expiresAtMs: grant.expiresAtSeconds * 1000, answeredAtMs: clock.now() };
    // Written only into a cache that still holds this user's entry: a logout in the
    // meantime stays a logout.
    try {
      await this.cache.update((current) =>
        current?.client_id === client.settings.clientId && current.tokens[rs] ? withGrants(current, client.settings.clientId, [grant]) : current,
      );
    } catch (err) {
      // The lock stayed taken (a holder killed mid-write, until it goes stale): the new
      // token is good all the same and is used from memory; the next refresh writes one.
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
      this.#unsaved.set(rs, { replaced, accessToken: refreshed.accessToken, expiresAtMs: refreshed.expiresAtMs });
      return refreshed;
    }
    this.#unsaved.delete(rs);
    return refreshed;
  }
}

/** A confidential client's own tokens (client-credentials grant), per scope, in memory. */
export class ClientCredentialTokens implements TokenProvider {
  readonly #deps: TokenSourceDeps;
  readonly #tokens = new Map<string, { accessToken: string; expiresAtMs: number }>();
  readonly #granting = new Map<string, Promise<string>>();

  constructor(deps: TokenSourceDeps) {
    this.#deps = deps;
  }

  /** A confidential client consents for itself: its grant is asked for at the run. */
  hasConsent(): boolean {
    return true;
  }

  async getToken(scope: string, { rejected }: { rejected: string | null }): Promise<string> {
    const { clock, refreshMarginMs } = this.#deps;
    const held = this.#tokens.get(scope);
    if (held && held.expiresAtMs - clock.now() > refreshMarginMs && held.accessToken !== rejected) return held.accessToken;
    let pending = this.#granting.get(scope);
    if (!pending) {
      pending = this.#grant(scope).finally(() => this.#granting.delete(scope));
      this.#granting.set(scope, pending);
    }
    return pending;
  }

  async #grant(scope: string): Promise<string> {
    const { client } = this.#deps;
    let grants: TokenGrant[];
    try {
      grants = await client.clientCredentials([scope]);
    } catch (err) {
      throw authFailure(err, 'InvalidClient', scope, `the client-credentials grant for client ${client.settings.clientId}`);
    }
    const base = parseScope(scope).base;
    const grant = grants.find((g) => g.scopes.includes(base)) ?? grants[0]!;
    this.#tokens.set(scope, { accessToken: grant.accessToken, expiresAtMs: grant.expiresAtSeconds * 1000 });
    return grant.accessToken;
  }
}

/** Map an Auth failure to what the runner and the CLI act on. */
function authFailure(err: unknown, refusedReason: AuthRequiredError['reason'], scope: string, what: string): Error {
  if (!(err instanceof AuthError)) return err as Error;
  if (err.kind === 'unavailable') return new AuthUnavailableError(`${what} failed: ${err.message}`);
  const reason = err.oauthError === 'invalid_scope' || err.oauthError === 'consent_required' ? 'ConsentRequired' : refusedReason;
  const fix = refusedReason === 'InvalidClient' ? 'check GLOBUS_TIMER_CLIENT_ID and GLOBUS_TIMER_CLIENT_SECRET' : `run: ${loginCommand([scope])}`;
  return new AuthRequiredError(reason, [scope], `${what} was refused (${err.message}); ${fix}`);
}

export interface TokenProviderOptions {
  env: NodeJS.ProcessEnv;
  tokensFile: string;
  clock: Clock;
  refreshMarginMs: number;
  warn: (message: string) => void;
  settings?: AuthSettings;
}

/** The token source this environment asks for (see the module comment). */
export function createTokenProvider(opts: TokenProviderOptions): UserTokens | ClientCredentialTokens {
  const settings = opts.settings ?? authSettings(opts.env);
  const deps = { client: new AuthClient(settings), clock: opts.clock, refreshMarginMs: opts.refreshMarginMs };
  if (settings.clientSecret) return new ClientCredentialTokens(deps);
  return new UserTokens(new TokenCache(opts.tokensFile, opts.warn), deps);
}

/** Refresh a token that has less than this left before using it from the CLI. */
export const CLI_REFRESH_MARGIN_MS = 60_000;

/** The token provider of a CLI command: the user's token cache (or the confidential client) on the system clock. */
export function cliTokenProvider(env: NodeJS.ProcessEnv, warn: (message: string) => void): UserTokens | ClientCredentialTokens {
  return createTokenProvider({ env, tokensFile: resolvePaths(env).tokensFile, clock: systemClock, refreshMarginMs: CLI_REFRESH_MARGIN_MS, warn });
}
