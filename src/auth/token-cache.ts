import fs from 'node:fs';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { TimerError, TokenCacheError } from '../core/errors.ts';
import { checkPrivateDir, ensurePrivateDir, openPrivateFile, writePrivateFileAtomically } from '../fs/private.ts';
import type { TokenGrant } from './auth-client.ts';
import { baseScope, coversScope, mergeScopes } from '../core/scopes.ts';

/**
 * The token cache (SPEC §6): one JSON file, mode 0600, one entry per resource server.
 *
 * The CLI (login, whoami) and the daemon (refreshes) both write it, so every change is a
 * read-modify-write under a lock (proper-lockfile: a `tokens.json.lock` directory, with
 * stale-lock recovery should a process die holding it), and every write is atomic (temp
 * file + rename), so a reader never sees half a file and no refresh overwrites another
 * process's new tokens. The lock is held only around that quick step, never across an
 * HTTP call to Globus Auth.
 */

export const TOKEN_CACHE_FORMAT = 'globus-timer-tokens/1';

export interface CachedToken {
  resource_server: string;
  access_token: string;
  refresh_token: string | null;
  /** Epoch seconds. */
  expiration_time: number;
  /** Base scopes the token carries. */
  scopes: string[];
  /** Full scope strings with dependencies (`scope[*dep]`) the user has consented to. */
  dependent_scopes: string[];
}

export interface TokenCacheFile {
  format: typeof TOKEN_CACHE_FORMAT;
  /** Refresh tokens belong to the client that got them; another client id cannot use them. */
  client_id: string;
  tokens: Record<string, CachedToken>;
}

const LOCK_OPTIONS = {
  realpath: false,
  // A holder that died leaves the lock behind; after this long it is taken over (a live
  // holder refreshes the lock's mtime every stale/2, and holds it only for a local write).
  stale: 5_000,
  retries: { retries: 60, factor: 1.3, minTimeout: 5, maxTimeout: 250 },
} as const;

export class TokenCache {
  readonly file: string;
  readonly #warn: (message: string) => void;
  /** The last parse and the file identity it came from, so an unchanged file is not re-read. */
  #last: { key: string; value: TokenCacheFile } | null = null;
  #dirChecked = false;

  constructor(file: string, warn: (message: string) => void) {
    this.file = file;
    this.#warn = warn;
  }

  /**
   * A process killed between writing its temp file and renaming it leaves a copy of the
   * tokens behind, which would outlive a logout. Writes only happen under the lock, so any
   * temp file seen while holding it is such an orphan.
   */
  #removeOrphans(): void {
    const dir = path.dirname(this.file);
    for (const name of fs.readdirSync(dir)) if (isTempOf(this.file, name)) fs.rmSync(path.join(dir, name), { force: true });
  }

  /**
   * Check where the cache lives without reading it (the daemon does at start): its
   * directory, and the file when there is one. UNSAFE_PATH when another user could have
   * put either there.
   */
  checkLocation(): void {
    if (this.#dirIsSafe(false)) this.#open()?.close();
  }

  /**
   * The directory holds the tokens (and their temp files): checked once per instance
   * (creating it when `create`); false when it does not exist.
   */
  #dirIsSafe(create: boolean): boolean {
    if (this.#dirChecked) return true;
    const dir = path.dirname(this.file);
    if (create) ensurePrivateDir(dir, 'token cache directory');
    else if (!checkPrivateDir(dir, 'token cache directory')) return false;
    this.#dirChecked = true;
    return true;
  }

  /**
   * Opened without following a link, and judged by fstat: the user's own regular file (else
   * UNSAFE_PATH; a planted link once had us read, and chmod, its target). A mode open to
   * others is tightened on the fd, with a warning; failing to tighten it is fatal.
   */
  #open(): { fd: number; stat: fs.Stats; close(): void } | null {
    let opened: ReturnType<typeof openPrivateFile>;
    try {
      opened = openPrivateFile(this.file, 'token cache', { create: 'never', access: 'read' });
    } catch (err) {
      if (err instanceof TimerError) throw err;
      throw new TokenCacheError(this.file, (err as Error).message);
    }
    if (!opened) return null;
    const { fd, stat, tightenedFromMode } = opened;
    if (tightenedFromMode !== null) {
      this.#warn(
        `token cache ${this.file} was readable by others (mode ${(tightenedFromMode & 0o777).toString(8)}); tightened to ${(tightenedFromMode & 0o700).toString(8)}`,
      );
    }
    return { fd, stat, close: () => fs.closeSync(fd) };
  }

  /** The cache, or null when there is none. Cheap when the file has not changed since the last read. */
  read(): TokenCacheFile | null {
    if (!this.#dirIsSafe(false)) return null;
    const opened = this.#open();
    if (!opened) return null;
    try {
      const { stat } = opened;
      const key = `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
      if (this.#last?.key === key) return this.#last.value;
      let text: string;
      try {
        text = fs.readFileSync(opened.fd, 'utf8');
      } catch (err) {
        throw new TokenCacheError(this.file, (err as Error).message);
      }
      const value = parseCache(text, this.file);
      this.#last = { key, value };
      return value;
    } finally {
      opened.close();
    }
  }

  /**
   * Change the cache under the lock: `change` gets the current contents (read afresh) and
   * returns the new ones, or null to delete the file.
   */
  async update(
    change: (current: TokenCacheFile | null) => TokenCacheFile | null,
    { skipRead = false }: { skipRead?: boolean } = {},
  ): Promise<TokenCacheFile | null> {
    this.#dirIsSafe(true);
    const release = await lockfile.lock(this.file, LOCK_OPTIONS);
    try {
      this.#removeOrphans();
      this.#last = null;
      const next = change(skipRead ? null : this.read());
      if (next === null) fs.rmSync(this.file, { force: true });
      else writePrivateFileAtomically(this.file, JSON.stringify(next, null, 2) + '\n', 'token cache');
      this.#last = null;
      return next;
    } finally {
      await release();
    }
  }
}

/**
 * Delete the cache under the lock without reading it: the way out of a corrupt cache.
 */
export async function clearTokenCache(cache: TokenCache): Promise<void> {
  await cache.update(() => null, { skipRead: true });
}

/** Temp files of writes interrupted by a crash: `tokens.json.<pid>.<hex>.tmp`. */
function isTempOf(file: string, name: string): boolean {
  const base = path.basename(file);
  return name.startsWith(`${base}.`) && name.endsWith('.tmp');
}

function parseCache(text: string, file: string): TokenCacheFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new TokenCacheError(file, `not JSON: ${(err as Error).message}`);
  }
  const c = raw as Partial<TokenCacheFile> | null;
  if (!c || typeof c !== 'object' || c.format !== TOKEN_CACHE_FORMAT || typeof c.client_id !== 'string' || !isRecord(c.tokens)) {
    throw new TokenCacheError(file, `not a ${TOKEN_CACHE_FORMAT} token cache`);
  }
  for (const [rs, t] of Object.entries(c.tokens)) {
    const ok =
      isRecord(t) &&
      t.resource_server === rs &&
      typeof t.access_token === 'string' &&
      (t.refresh_token === null || typeof t.refresh_token === 'string') &&
      typeof t.expiration_time === 'number' &&
      isStringArray(t.scopes) &&
      isStringArray(t.dependent_scopes);
    if (!ok) throw new TokenCacheError(file, `the entry for ${JSON.stringify(rs)} is malformed`);
  }
  return c as TokenCacheFile;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === 'string');
}

/**
 * The cache with new grants merged in. `requestedScopes` are the full scope strings asked
 * for; each one with dependencies is remembered on the entry that carries its base scope.
 * Consent is kept across refreshes and logins (it lives at Globus Auth, not in a token).
 */
export function withGrants(
  current: TokenCacheFile | null,
  clientId: string,
  grants: readonly TokenGrant[],
  requestedScopes: readonly string[] = [],
): TokenCacheFile {
  const tokens = current && current.client_id === clientId ? { ...current.tokens } : {};
  for (const g of grants) {
    const before = tokens[g.resourceServer];
    const dependent = requestedScopes.filter((s) => s.includes('[') && g.scopes.includes(baseScope(s)));
    tokens[g.resourceServer] = {
      resource_server: g.resourceServer,
      access_token: g.accessToken,
      // A refresh answer may leave the refresh token out: the old one still holds.
      refresh_token: g.refreshToken ?? before?.refresh_token ?? null,
      expiration_time: g.expiresAtSeconds,
      scopes: g.scopes.length ? g.scopes : (before?.scopes ?? []),
      dependent_scopes: [...new Set([...(before?.dependent_scopes ?? []), ...dependent])],
    };
  }
  return { format: TOKEN_CACHE_FORMAT, client_id: clientId, tokens };
}

export type TokenLookup =
  | { kind: 'found'; token: CachedToken }
  /** No token carries the base scope, or the dependencies were never consented to. */
  | { kind: 'missing' };

/** The cached token for a scope, honouring consent to its dependent scopes. */
export function lookupToken(cache: TokenCacheFile | null, clientId: string, scope: string): TokenLookup {
  if (!cache || cache.client_id !== clientId) return { kind: 'missing' };
  const base = baseScope(scope);
  const token = Object.values(cache.tokens).find((t) => t.scopes.includes(base));
  if (!token) return { kind: 'missing' };
  if (!coversScope(token.dependent_scopes, scope)) return { kind: 'missing' };
  return { kind: 'found', token };
}

/** Every scope the user has consented to, to ask for again at the next login. */
export function consentedScopes(cache: TokenCacheFile | null, clientId: string): string[] {
  if (!cache || cache.client_id !== clientId) return [];
  return mergeScopes(Object.values(cache.tokens).flatMap((t) => [...t.scopes, ...t.dependent_scopes]));
}
