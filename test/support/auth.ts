/**
 * A fake Globus Auth on 127.0.0.1 for tests (reference globus-timer-cli.md §2). The product
 * reaches it through `GLOBUS_SDK_SERVICE_URL_AUTH=<baseUrl>`. It serves the token endpoint
 * (authorization code with PKCE S256, refresh token, client credentials), token revocation
 * and userinfo, answers in Globus' shape (one token per resource server, the rest in
 * `other_tokens`) with RFC 6749 error bodies, and records every request.
 *
 * The login itself (the browser page) is `approve(authorizeUrl)`: it returns the one-time
 * code the user would paste back into the CLI.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export const FAKE_NATIVE_CLIENT_ID = 'bc77d044-1f42-46cc-9702-87f756cd08a6';

export type GrantType = 'authorization_code' | 'refresh_token' | 'client_credentials';
export type Refusal = 'invalid_grant' | 'invalid_client' | 500 | 'hang';

export interface FakeAuthOptions {
  /** Default 'bc77d044-1f42-46cc-9702-87f756cd08a6' (the original CLI's public client). */
  nativeClientId?: string;
  /** Default { id: 'cc-client', secret: 'cc-secret' }. */
  confidentialClient?: { id: string; secret: string };
  /** Default 'alice@example.org'. */
  username?: string;
}

export interface RecordedAuthRequest {
  method: string;
  /** The request path with any query string. */
  path: string;
  /** Parsed x-www-form-urlencoded body; empty for other content types. */
  form: Record<string, string>;
  headers: http.IncomingHttpHeaders;
  receivedAtMs: number;
}

export interface FakeAuth {
  /** 'http://127.0.0.1:PORT' (no trailing slash). */
  baseUrl: string;
  /** The user's identity id (`sub` in userinfo). */
  identityId: string;
  /** Seconds until newly issued access tokens expire (default 172800). Changeable between calls. */
  expiresInSeconds: number;
  /**
   * What the user would see after logging in at the authorize URL the CLI printed: a
   * one-time code bound to that URL's client_id, redirect_uri, scope, code_challenge and
   * access_type. Throws if the URL is not a proper authorize URL at this server.
   */
  approve(authorizeUrl: string): string;
  /** Does this access token currently grant access to `scope`? */
  accepts(accessToken: string | undefined, scope: string): boolean;
  /** Make every issued access token (or one) expired now. */
  expireAccessTokens(token?: string): void;
  /** Revoke every user grant: refresh tokens and the access tokens minted under them. */
  revokeAll(): void;
  /** Failure injection for the next token-endpoint calls of a grant type, consumed in order. */
  refuse: Partial<Record<GrantType, Refusal[]>>;
  /** Every request, in order. */
  requests: RecordedAuthRequest[];
  /** Counts of successful grants by grant_type. */
  grants: Record<GrantType, number>;
  /** Tokens revoked through the revoke endpoint, in order. */
  revocations: string[];
  /** Every access and refresh token ever issued. */
  issuedSecrets(): string[];
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------
// Scopes

/** Split a space-separated scope list, keeping `a[b c]` together (brackets may nest). */
export function splitScopes(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '[') depth += 1;
    if (ch === ']') {
      depth -= 1;
      if (depth < 0) throw new Error(`unbalanced "]" in scope "${text}"`);
    }
    if (/\s/.test(ch) && depth === 0) {
      if (current) out.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  if (depth !== 0) throw new Error(`unbalanced "[" in scope "${text}"`);
  if (current) out.push(current);
  return out;
}

interface ParsedScope {
  base: string;
  deps: string[];
}

function parseScope(scope: string): ParsedScope {
  const s = scope.trim();
  const open = s.indexOf('[');
  if (open === -1) return { base: s, deps: [] };
  if (!s.endsWith(']')) throw new Error(`malformed scope "${scope}"`);
  return { base: s.slice(0, open).trim(), deps: splitScopes(s.slice(open + 1, -1)) };
}

/** A canonical form: dependencies sorted (recursively), so equal consents compare equal. */
function normalizeScope(scope: string): string {
  const { base, deps } = parseScope(scope);
  if (deps.length === 0) return base;
  const optional = (d: string) => (d.startsWith('*') ? '*' + normalizeScope(d.slice(1)) : normalizeScope(d));
  return `${base}[${deps.map(optional).sort().join(' ')}]`;
}

const AUTH_RS = 'auth.globus.org';

/** The resource server a base scope belongs to; throws for a scope Globus would not know. */
export function resourceServerOf(baseScope: string): string {
  if (baseScope === 'openid' || baseScope === 'profile' || baseScope === 'email') return AUTH_RS;
  const urn = /^urn:globus:auth:scope:([^:\s]+):(\S+)$/.exec(baseScope);
  if (urn) return urn[1]!;
  const url = /^https:\/\/[^/\s]+\/scopes\/([^/\s]+)\/(\S+)$/.exec(baseScope);
  if (url) return url[1]!;
  throw new Error(`unknown scope "${baseScope}"`);
}

/** Requested scopes grouped by resource server, in order of first appearance. */
function groupByResourceServer(scopeText: string): Map<string, string[]> {
  const scopes = splitScopes(scopeText);
  if (scopes.length === 0) throw new Error('no scope requested');
  const groups = new Map<string, string[]>();
  for (const s of scopes) {
    const rs = resourceServerOf(parseScope(s).base);
    const list = groups.get(rs) ?? [];
    if (!list.includes(s)) list.push(s);
    groups.set(rs, list);
  }
  return groups;
}

// ---------------------------------------------------------------------------------------
// Server

interface PendingCode {
  clientId: string;
  redirectUri: string;
  scope: string;
  codeChallenge: string;
  offline: boolean;
  approvedAtMs: number;
  used: boolean;
}

/** One consent: what a client may do at one resource server. */
interface Grant {
  rs: string;
  /** Full requested scope strings (with dependencies) at this resource server. */
  scopes: string[];
  clientId: string;
  refreshToken: string | null;
  /** 'user' grants come from a login; 'client' grants from client credentials. */
  kind: 'user' | 'client';
  revoked: boolean;
  authenticatedAtMs: number;
}

interface AccessRecord {
  grant: Grant;
  expiresAtMs: number;
  revoked: boolean;
}

class OAuthError extends Error {
  readonly httpStatus: number;
  readonly error: string;
  readonly description: string;
  constructor(httpStatus: number, error: string, description: string) {
    super(`${error}: ${description}`);
    this.httpStatus = httpStatus;
    this.error = error;
    this.description = description;
  }
}

function base64url(buf: Buffer): string {
  return buf.toString('base64url');
}

function accessTokenString(): string {
  return 'AgAAA' + base64url(randomBytes(36));
}

function refreshTokenString(): string {
  return 'AgRRR' + base64url(randomBytes(48));
}

function authCodeString(): string {
  // Globus' codes are short alphanumeric strings the user can paste.
  return randomBytes(24).toString('hex').slice(0, 30);
}

function basicCredentials(header: string | undefined): { id: string; secret: string } | null | 'malformed' {
  if (!header) return null;
  const m = /^Basic\s+(\S+)$/i.exec(header);
  if (!m) return null;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return 'malformed';
  const formDecode = (s: string) => {
    try {
      return decodeURIComponent(s.replace(/\+/g, ' '));
    } catch {
      return s;
    }
  };
  return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
}

function bearer(header: string | undefined): string | undefined {
  const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return m ? m[1] : undefined;
}

export async function startFakeAuth(opts: FakeAuthOptions = {}): Promise<FakeAuth> {
  const nativeClientId = opts.nativeClientId ?? FAKE_NATIVE_CLIENT_ID;
  const confidential = opts.confidentialClient ?? { id: 'cc-client', secret: 'cc-secret' };
  const username = opts.username ?? 'alice@example.org';
  const identityId = randomUUID();
  const identityProviderId = randomUUID();

  const codes = new Map<string, PendingCode>();
  const accessTokens = new Map<string, AccessRecord>();
  const refreshTokens = new Map<string, Grant>();
  const issued: string[] = [];
  const openSockets = new Set<Socket>();

  function unique(make: () => string): string {
    for (;;) {
      const t = make();
      if (!accessTokens.has(t) && !refreshTokens.has(t) && !codes.has(t)) return t;
    }
  }

  function isLive(rec: AccessRecord | undefined): rec is AccessRecord {
    return !!rec && !rec.revoked && !rec.grant.revoked && rec.expiresAtMs > Date.now();
  }

  const auth: FakeAuth = {
    baseUrl: '',
    identityId,
    expiresInSeconds: 172_800,
    refuse: {},
    requests: [],
    grants: { authorization_code: 0, refresh_token: 0, client_credentials: 0 },
    revocations: [],
    approve(authorizeUrl) {
      const url = new URL(authorizeUrl);
      if (url.origin !== auth.baseUrl) throw new Error(`authorize URL ${authorizeUrl} is not at the fake Globus Auth ${auth.baseUrl}`);
      if (url.pathname !== '/v2/oauth2/authorize') throw new Error(`not an authorize URL (path ${url.pathname}): ${authorizeUrl}`);
      const p = url.searchParams;
      const need = (name: string) => {
        const v = p.get(name);
        if (!v) throw new Error(`authorize URL lacks ${name}: ${authorizeUrl}`);
        return v;
      };
      if (need('response_type') !== 'code') throw new Error(`response_type must be "code": ${authorizeUrl}`);
      if (need('code_challenge_method') !== 'S256') throw new Error(`code_challenge_method must be "S256": ${authorizeUrl}`);
      const codeChallenge = need('code_challenge');
      if (!/^[A-Za-z0-9_-]{43}$/.test(codeChallenge)) throw new Error(`code_challenge is not a base64url SHA-256: ${codeChallenge}`);
      const clientId = need('client_id');
      if (clientId !== nativeClientId && clientId !== confidential.id) throw new Error(`unknown client_id ${clientId}`);
      const redirectUri = need('redirect_uri');
      const scope = need('scope');
      groupByResourceServer(scope); // throws for a scope the login page would reject
      const accessType = p.get('access_type') ?? 'online';
      if (accessType !== 'online' && accessType !== 'offline') throw new Error(`access_type must be online or offline: ${accessType}`);
      const code = unique(authCodeString);
      codes.set(code, { clientId, redirectUri, scope, codeChallenge, offline: accessType === 'offline', approvedAtMs: Date.now(), used: false });
      return code;
    },
    accepts(accessToken, scope) {
      if (!accessToken) return false;
      const rec = accessTokens.get(accessToken);
      if (!isLive(rec)) return false;
      let wanted: ParsedScope;
      try {
        wanted = parseScope(scope);
        if (resourceServerOf(wanted.base) !== rec.grant.rs) return false;
      } catch {
        return false;
      }
      return rec.grant.scopes.some((s) => {
        if (parseScope(s).base !== wanted.base) return false;
        return wanted.deps.length === 0 || normalizeScope(s) === normalizeScope(scope);
      });
    },
    expireAccessTokens(token) {
      const now = Date.now();
      if (token !== undefined) {
        const rec = accessTokens.get(token);
        if (rec) rec.expiresAtMs = now;
        return;
      }
      for (const rec of accessTokens.values()) rec.expiresAtMs = Math.min(rec.expiresAtMs, now);
    },
    revokeAll() {
      for (const rec of accessTokens.values()) if (rec.grant.kind === 'user') rec.grant.revoked = true;
      for (const grant of refreshTokens.values()) grant.revoked = true;
    },
    issuedSecrets: () => [...issued],
    async close() {
      for (const s of openSockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  /** Mint an access token under a grant; the Globus token-response entry for it. */
  function mint(grant: Grant): Record<string, unknown> {
    const token = unique(accessTokenString);
    const expiresIn = auth.expiresInSeconds;
    accessTokens.set(token, { grant, expiresAtMs: Date.now() + expiresIn * 1000, revoked: false });
    issued.push(token);
    const bases = [...new Set(grant.scopes.map((s) => parseScope(s).base))];
    const entry: Record<string, unknown> = {
      access_token: token,
      expires_in: expiresIn,
      resource_server: grant.rs,
      scope: bases.join(' '),
      token_type: 'Bearer',
    };
    if (grant.refreshToken) entry.refresh_token = grant.refreshToken;
    return entry;
  }

  /** The Globus token response: first token at top level, the others in other_tokens. */
  function tokenResponse(grants: Grant[]): Record<string, unknown> {
    const [first, ...rest] = grants.map(mint);
    return { ...first, other_tokens: rest };
  }

  function newGrants(groups: Map<string, string[]>, clientId: string, kind: Grant['kind'], offline: boolean, authenticatedAtMs: number): Grant[] {
    return [...groups].map(([rs, scopes]) => {
      const grant: Grant = { rs, scopes, clientId, refreshToken: null, kind, revoked: false, authenticatedAtMs };
      if (offline) {
        grant.refreshToken = unique(refreshTokenString);
        refreshTokens.set(grant.refreshToken, grant);
        issued.push(grant.refreshToken);
      }
      return grant;
    });
  }

  /**
   * Client authentication at the token and revoke endpoints: HTTP Basic for the confidential
   * client, `client_id` in the form for the public native client.
   */
  function authenticateClient(req: http.IncomingMessage, form: Record<string, string>): { id: string; confidential: boolean } {
    const basic = basicCredentials(req.headers.authorization);
    if (basic === 'malformed') throw new OAuthError(401, 'invalid_client', 'malformed HTTP Basic credentials');
    if (basic) {
      if (basic.id !== confidential.id || basic.secret !== confidential.secret) throw new OAuthError(401, 'invalid_client', 'client authentication failed');
      if (form.client_id !== undefined && form.client_id !== basic.id)
        throw new OAuthError(401, 'invalid_client', 'client_id does not match the authenticated client');
      return { id: basic.id, confidential: true };
    }
    const id = form.client_id;
    if (!id) throw new OAuthError(401, 'invalid_client', 'client authentication required');
    if (id === nativeClientId) {
      if (form.client_secret !== undefined) throw new OAuthError(401, 'invalid_client', 'a native app client has no secret');
      return { id, confidential: false };
    }
    if (id === confidential.id) throw new OAuthError(401, 'invalid_client', 'this client must authenticate with HTTP Basic');
    throw new OAuthError(401, 'invalid_client', `unknown client ${id}`);
  }

  function required(form: Record<string, string>, name: string): string {
    const v = form[name];
    if (!v) throw new OAuthError(400, 'invalid_request', `missing required parameter ${name}`);
    return v;
  }

  function tokenEndpoint(req: http.IncomingMessage, form: Record<string, string>): Record<string, unknown> {
    const grantType = form.grant_type;
    if (!grantType) throw new OAuthError(400, 'invalid_request', 'missing required parameter grant_type');
    switch (grantType) {
      case 'authorization_code': {
        const client = authenticateClient(req, form);
        const code = required(form, 'code');
        const redirectUri = required(form, 'redirect_uri');
        const pending = codes.get(code);
        if (!pending || pending.used) throw new OAuthError(400, 'invalid_grant', 'the authorization code is invalid, expired or already used');
        if (pending.clientId !== client.id) throw new OAuthError(400, 'invalid_grant', 'the authorization code was issued to another client');
        if (pending.redirectUri !== redirectUri) throw new OAuthError(400, 'invalid_grant', 'redirect_uri does not match the authorization request');
        const verifier = form.code_verifier;
        if (!verifier) throw new OAuthError(400, 'invalid_grant', 'code_verifier is required');
        if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier)) throw new OAuthError(400, 'invalid_grant', 'code_verifier is malformed');
        if (base64url(createHash('sha256').update(verifier).digest()) !== pending.codeChallenge) {
          throw new OAuthError(400, 'invalid_grant', 'code_verifier does not match code_challenge');
        }
        pending.used = true;
        const grants = newGrants(groupByResourceServer(pending.scope), client.id, 'user', pending.offline, pending.approvedAtMs);
        auth.grants.authorization_code += 1;
        return tokenResponse(grants);
      }
      case 'refresh_token': {
        const client = authenticateClient(req, form);
        const token = required(form, 'refresh_token');
        const grant = refreshTokens.get(token);
        if (!grant || grant.revoked) throw new OAuthError(400, 'invalid_grant', 'the refresh token is invalid or has been revoked');
        if (grant.clientId !== client.id) throw new OAuthError(400, 'invalid_grant', 'the refresh token was issued to another client');
        auth.grants.refresh_token += 1;
        return tokenResponse([grant]);
      }
      case 'client_credentials': {
        const client = authenticateClient(req, form);
        if (!client.confidential) throw new OAuthError(401, 'invalid_client', 'client credentials need a confidential client');
        const scope = required(form, 'scope');
        let groups: Map<string, string[]>;
        try {
          groups = groupByResourceServer(scope);
        } catch (e) {
          throw new OAuthError(400, 'invalid_scope', (e as Error).message);
        }
        const grants = newGrants(groups, client.id, 'client', false, Date.now());
        auth.grants.client_credentials += 1;
        return tokenResponse(grants);
      }
      default:
        throw new OAuthError(400, 'unsupported_grant_type', `unsupported grant_type ${grantType}`);
    }
  }

  function revokeEndpoint(req: http.IncomingMessage, form: Record<string, string>): Record<string, unknown> {
    authenticateClient(req, form);
    const token = required(form, 'token');
    auth.revocations.push(token);
    // RFC 7009: unknown tokens are not an error.
    const grant = refreshTokens.get(token);
    if (grant) grant.revoked = true;
    const rec = accessTokens.get(token);
    if (rec) rec.revoked = true;
    return { active: false };
  }

  function userinfo(req: http.IncomingMessage): Record<string, unknown> {
    const rec = accessTokens.get(bearer(req.headers.authorization) ?? '');
    if (!isLive(rec) || rec.grant.rs !== AUTH_RS || rec.grant.kind !== 'user') {
      throw new OAuthError(401, 'invalid_token', 'the access token is missing, invalid or expired');
    }
    const has = (s: string) => rec.grant.scopes.some((x) => parseScope(x).base === s);
    if (!has('openid')) throw new OAuthError(403, 'insufficient_scope', 'userinfo needs a token with the openid scope');
    // As Globus: profile and email claims only with those scopes.
    const info: Record<string, unknown> = { sub: identityId };
    if (has('profile')) {
      Object.assign(info, {
        preferred_username: username,
        name: 'Alice Example',
        identity_provider: identityProviderId,
        identity_provider_display_name: 'Example University',
        organization: 'Example University',
        last_authentication: Math.floor(rec.grant.authenticatedAtMs / 1000),
      });
    }
    if (has('email')) info.email = 'alice@example.org';
    return info;
  }

  function reply(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', pragma: 'no-cache', ...headers });
    res.end(JSON.stringify(body));
  }

  function replyError(res: http.ServerResponse, e: OAuthError): void {
    const headers: Record<string, string> = {};
    if (e.httpStatus === 401 && e.error === 'invalid_client') headers['www-authenticate'] = 'Basic realm="Globus Auth"';
    if (e.error === 'invalid_token' || e.error === 'insufficient_scope') headers['www-authenticate'] = `Bearer error="${e.error}"`;
    reply(res, e.httpStatus, { error: e.error, error_description: e.description }, headers);
  }

  function refusal(res: http.ServerResponse, r: Refusal): void {
    switch (r) {
      case 'hang':
        return;
      case 500:
        reply(res, 500, { error: 'server_error', error_description: 'an unexpected error occurred (injected)' });
        return;
      case 'invalid_client':
        replyError(res, new OAuthError(401, 'invalid_client', 'client authentication failed (injected)'));
        return;
      case 'invalid_grant':
        replyError(res, new OAuthError(400, 'invalid_grant', 'the grant is invalid or has been revoked (injected)'));
    }
  }

  const server = http.createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (text += c));
    req.on('end', () => {
      const path = req.url ?? '/';
      const pathname = path.split('?')[0] ?? '/';
      const form: Record<string, string> = {};
      if ((req.headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded')) {
        for (const [k, v] of new URLSearchParams(text)) if (!(k in form)) form[k] = v;
      }
      auth.requests.push({ method: req.method ?? '', path, form, headers: req.headers, receivedAtMs: Date.now() });
      try {
        if (pathname === '/v2/oauth2/token') {
          if (req.method !== 'POST') throw new OAuthError(405, 'invalid_request', 'use POST');
          const grantType = form.grant_type;
          if (grantType === 'authorization_code' || grantType === 'refresh_token' || grantType === 'client_credentials') {
            const r = auth.refuse[grantType]?.shift();
            if (r !== undefined) return refusal(res, r);
          }
          return reply(res, 200, tokenEndpoint(req, form));
        }
        if (pathname === '/v2/oauth2/token/revoke') {
          if (req.method !== 'POST') throw new OAuthError(405, 'invalid_request', 'use POST');
          return reply(res, 200, revokeEndpoint(req, form));
        }
        if (pathname === '/v2/oauth2/userinfo') {
          if (req.method !== 'GET' && req.method !== 'POST') throw new OAuthError(405, 'invalid_request', 'use GET');
          return reply(res, 200, userinfo(req));
        }
        reply(res, 404, { error: 'not_found', error_description: `no such endpoint: ${req.method} ${pathname}` });
      } catch (e) {
        if (e instanceof OAuthError) return replyError(res, e);
        reply(res, 500, { error: 'server_error', error_description: String(e) });
      }
    });
  });
  server.on('connection', (s) => {
    openSockets.add(s);
    s.on('close', () => openSockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  auth.baseUrl = `http://127.0.0.1:${port}`;
  return auth;
}

// ---------------------------------------------------------------------------------------
// Helpers for tests that play the CLI side

/** A PKCE pair: a random verifier and its S256 challenge. */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = base64url(randomBytes(32));
  return { verifier, challenge: base64url(createHash('sha256').update(verifier).digest()) };
}
