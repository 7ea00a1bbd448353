import { createHash, randomBytes } from 'node:crypto';
import os from 'node:os';
import { Agent, type Dispatcher } from 'undici';
import { sendRequest, type HttpOptions } from '../http/request.ts';
import type { AuthSettings } from './environment.ts';
import { AuthError } from '../core/errors.ts';

/**
 * Globus Auth's OAuth2 endpoints (reference globus-timer-cli.md §2): the native-app
 * authorization-code flow with PKCE, refresh, client credentials, revocation, userinfo.
 * Errors are `AuthError`s (core/errors.ts) that say whether Auth refused (the user must act)
 * or could not be reached (try again later); no message ever carries a token.
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
    return this.#token({
      grant_type: 'authorization_code',
      code,
      redirect_uri: this.redirectUri,
      client_id: this.settings.clientId,
      code_verifier: codeVerifier,
    });
  }

  refresh(refreshToken: string): Promise<TokenGrant[]> {
    return this.#token({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: this.settings.clientId });
  }

  /** A confidential client acting as itself (headless servers). */
  clientCredentials(scopes: readonly string[]): Promise<TokenGrant[]> {
    return this.#token({ grant_type: 'client_credentials', scope: scopes.join(' ') });
  }

  async revoke(token: string): Promise<void> {
    const form: Record<string, string> = { token };
    if (!this.settings.clientSecret) form.client_id = this.settings.clientId;
    await this.#post('/v2/oauth2/token/revoke', form);
  }

  async userinfo(accessToken: string): Promise<Record<string, unknown>> {
    const outcome = await sendRequest(
      'GET',
      `${this.settings.baseUrl}/v2/oauth2/userinfo`,
      { headers: { authorization: `Bearer ${accessToken}` } },
      this.#http,
    );
    return expectObject(checkOutcome(outcome, 'userinfo'), 'userinfo');
  }

  async #token(form: Record<string, string>): Promise<TokenGrant[]> {
    const body = expectObject(await this.#post('/v2/oauth2/token', form), 'token');
    return parseTokenResponse(body);
  }

  async #post(path: string, form: Record<string, string>): Promise<unknown> {
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
    if (this.settings.clientSecret) {
      const basic = Buffer.from(`${encodeURIComponent(this.settings.clientId)}:${encodeURIComponent(this.settings.clientSecret)}`).toString('base64');
      headers.authorization = `Basic ${basic}`;
    }
    const outcome = await sendRequest('POST', `${this.settings.baseUrl}${path}`, { headers, body: new URLSearchParams(form).toString() }, this.#http);
    return checkOutcome(outcome, path.endsWith('revoke') ? 'revoke' : 'token');
  }
}

function checkOutcome(outcome: Awaited<ReturnType<typeof sendRequest>>, what: string): unknown {
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
