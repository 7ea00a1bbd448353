import { createHash, randomBytes } from 'node:crypto';
import os from 'node:os';
import { Agent, type Dispatcher } from 'undici';
import type { HttpOptions, HttpOutcome } from '../http/request.ts';
import { sdkExchange } from '../http/sdk-fetch.ts';
import type { SDKOptions } from '@globus/sdk/services/types';
import type { AuthSettings } from './environment.ts';
import { AuthError } from '../core/errors.ts';

/**
 * Globus Auth's OAuth2 endpoints (reference globus-timer-cli.md §2): the native-app
 * authorization-code flow with PKCE, refresh, client credentials, revocation, userinfo.
 * Errors are `AuthError`s (core/errors.ts) that say whether Auth refused (the user must act)
 * or could not be reached (try again later); no message ever carries a token.
 *
 * The requests are `@globus/sdk`'s `auth.oauth2` calls, sent over our HTTP to our Auth host
 * (http/sdk-fetch.ts). The authorize URL is built here: it is a page for the user's browser,
 * not a request, and building it needs no SDK (its `getAuthorizationEndpoint` would also pick
 * the host from process.env rather than from `settings`).
 */

/** One token of a token response: Globus issues one per resource server. */
export interface TokenGrant {
  resourceServer: string;
  accessToken: string;
  refreshToken: string | null;
  /** Epoch seconds, as the cache stores it. */
  expiresAtSeconds: number;
  /** The base scopes this token carries (Auth lists them without dependencies). */
  scopes: string[];
}

/** PKCE (RFC 7636, S256): a random verifier and the challenge sent in the authorize URL. */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

const TIMEOUT_MS = 30_000;
const MAX_RESPONSE_BYTES = 1 << 20;

export class AuthClient {
  readonly settings: AuthSettings;
  readonly #http: HttpOptions;

  constructor(settings: AuthSettings, dispatcher: Dispatcher = new Agent({ connections: 4 })) {
    this.settings = settings;
    this.#http = { dispatcher, timeoutMs: TIMEOUT_MS, maxResponseBytes: MAX_RESPONSE_BYTES };
  }

  /** Globus's "show me the code" page: native apps without a local redirect use it. */
  get redirectUri(): string {
    return `${this.settings.baseUrl}/v2/web/auth-code`;
  }

  authorizeUrl(scopes: readonly string[], codeChallenge: string): string {
    const url = new URL(`${this.settings.baseUrl}/v2/oauth2/authorize`);
    url.search = new URLSearchParams({
      client_id: this.settings.clientId,
      redirect_uri: this.redirectUri,
      scope: scopes.join(' '),
      state: '_default',
      response_type: 'code',
      code_challenge: codeChallenge,
      code_challenge_method: 'S256',
      access_type: 'offline',
      prefill_named_grant: `globus-timer on ${os.hostname()}`,
    }).toString();
    return url.toString();
  }

  exchangeCode(code: string, codeVerifier: string): Promise<TokenGrant[]> {
    return this.#token((oauth2, form, sdkOptions) => oauth2.token.exchange(form, sdkOptions), {
      grant_type: 'authorization_code',
      code,
      redirect_uri: this.redirectUri,
      client_id: this.settings.clientId,
      code_verifier: codeVerifier,
    });
  }

  refresh(refreshToken: string): Promise<TokenGrant[]> {
    return this.#token((oauth2, form, sdkOptions) => oauth2.token.refresh(form, sdkOptions), {
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: this.settings.clientId,
    });
  }

  /** A confidential client acting as itself (headless servers). The SDK's plain token call: it has no helper for this grant. */
  clientCredentials(scopes: readonly string[]): Promise<TokenGrant[]> {
    return this.#token((oauth2, form, sdkOptions) => oauth2.token.token(form, sdkOptions), { grant_type: 'client_credentials', scope: scopes.join(' ') });
  }

  async revoke(token: string): Promise<void> {
    const form: Record<string, string> = { token };
    // A confidential client is known by its Basic credentials and names no client_id (the SDK's type wants one).
    if (!this.settings.clientSecret) form.client_id = this.settings.clientId;
    checkOutcome(await this.#exchange((oauth2, sdkOptions) => oauth2.token.revoke(this.#formOptions(form), sdkOptions)), 'revoke');
  }

  async userinfo(accessToken: string): Promise<Record<string, unknown>> {
    // The SDK types userinfo's options as needing a `payload: never` (a GET has none): hence the cast.
    const options = { headers: { Authorization: `Bearer ${accessToken}` } } as unknown as Parameters<Oauth2['userinfo']>[0];
    const outcome = await this.#exchange((oauth2, sdkOptions) => oauth2.userinfo(options, sdkOptions));
    return expectObject(checkOutcome(outcome, 'userinfo'), 'userinfo');
  }

  async #token(call: TokenCall, form: Record<string, string>): Promise<TokenGrant[]> {
    const outcome = await this.#exchange((oauth2, sdkOptions) => call(oauth2, this.#formOptions(form), sdkOptions));
    return parseTokenResponse(expectObject(checkOutcome(outcome, 'token'), 'token'));
  }

  /**
   * The SDK's options for a form post: the form as its payload (the SDK form-encodes it; its
   * payload types are narrower than the grants sent here), and a confidential client's
   * credentials as HTTP Basic, which the SDK leaves to its caller.
   */
  #formOptions(form: Record<string, string>): FormOptions {
    const headers: Record<string, string> = {};
    if (this.settings.clientSecret) {
      const basic = Buffer.from(`${encodeURIComponent(this.settings.clientId)}:${encodeURIComponent(this.settings.clientSecret)}`).toString('base64');
      headers.Authorization = `Basic ${basic}`;
    }
    return { payload: form, headers } as unknown as FormOptions;
  }

  /** One Auth call: `@globus/sdk` loaded on first use (commands that never call Auth never load it), over our HTTP to our Auth host. */
  async #exchange(call: (oauth2: Oauth2, sdkOptions: SDKOptions) => Promise<unknown>) {
    const { oauth2 } = await import('@globus/sdk/services/auth');
    return sdkExchange(this.settings.baseUrl, this.#http, (sdkOptions) => call(oauth2, sdkOptions));
  }
}

type Oauth2 = typeof import('@globus/sdk/services/auth').oauth2;
/** The options the SDK's token calls take: typed as the widest of them, since each form is built here. */
type FormOptions = Parameters<Oauth2['token']['revoke']>[0] & Parameters<Oauth2['token']['exchange']>[0] & Parameters<Oauth2['token']['refresh']>[0];
type TokenCall = (oauth2: Oauth2, options: FormOptions, sdkOptions: SDKOptions) => Promise<unknown>;

function checkOutcome(outcome: HttpOutcome, what: string): unknown {
  // Already one line naming Auth's host (`cannot reach auth.globus.org: check the network (ENOTFOUND)`).
  if (outcome.kind === 'transport') throw new AuthError('unavailable', outcome.message);
  const { httpStatus, json } = outcome;
  if (httpStatus >= 200 && httpStatus < 300) return json;
  const body = (json ?? {}) as { error?: unknown; error_description?: unknown };
  const oauthError = typeof body.error === 'string' ? body.error : null;
  const description = typeof body.error_description === 'string' ? `: ${body.error_description}` : '';
  const message = `Globus Auth ${what} answered ${httpStatus}${oauthError ? ` ${oauthError}` : ''}${description}`;
  const transient = httpStatus === 429 || httpStatus >= 500;
  throw new AuthError(transient ? 'unavailable' : 'refused', message, oauthError);
}

function expectObject(json: unknown, what: string): Record<string, unknown> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new AuthError('unavailable', `Globus Auth ${what} answered without a JSON object`);
  }
  return json as Record<string, unknown>;
}

/** Globus's token response: the first token at the top level, the rest in `other_tokens`. */
export function parseTokenResponse(body: Record<string, unknown>, nowMs = Date.now()): TokenGrant[] {
  const others = Array.isArray(body.other_tokens) ? body.other_tokens : [];
  return [body, ...others].map((raw) => {
    const t = (raw ?? {}) as Record<string, unknown>;
    if (typeof t.access_token !== 'string' || typeof t.resource_server !== 'string') {
      throw new AuthError('unavailable', 'Globus Auth token response lacks access_token or resource_server');
    }
    const expiresIn = typeof t.expires_in === 'number' && Number.isFinite(t.expires_in) ? t.expires_in : 0;
    return {
      resourceServer: t.resource_server,
      accessToken: t.access_token,
      refreshToken: typeof t.refresh_token === 'string' && t.refresh_token ? t.refresh_token : null,
      expiresAtSeconds: Math.floor(nowMs / 1000) + Math.floor(expiresIn),
      scopes: typeof t.scope === 'string' ? t.scope.split(/\s+/).filter(Boolean) : [],
    };
  });
}
