/**
 * The dashboard's logins and sessions, kept in memory on the API's thread (api/door.ts says
 * why the door is built as it is):
 *
 * - A login code is made by the main thread for `globus-timer dashboard` (RPC
 *   `api.dashboard_login`) and handed here; `/?code=…` redeems it once, within 5 minutes, for
 *   a session. So the URL the CLI gives a browser (its argv, its history) holds nothing that
 *   works a second time, and never the API token.
 * - A session id is 32 random bytes, the cookie's value: not derived from the token, so a
 *   cookie read by another local port's page is not a way to the token, and it dies after
 *   12 hours, on token rotation, or with the daemon.
 *
 * Both are looked up by their SHA-256: a Map lookup is not constant time, but the time it
 * leaks is about a digest, which says nothing of a value still to be guessed.
 */
import { createHash, randomBytes } from 'node:crypto';

/** How long a login code may wait to be used. */
export const LOGIN_CODE_TTL_MS = 5 * 60_000;
/** How long a session lasts from its login: a working day; then `globus-timer dashboard` again. */
export const SESSION_TTL_MS = 12 * 3600_000;
/**
 * Codes and sessions kept at most: past it the oldest goes. Only the user (the RPC socket is
 * theirs) and holders of a code make them, so this bounds a loop's memory, nothing more.
 */
const MAX_ENTRIES = 256;

const keyOf = (text: string): string => createHash('sha256').update(text).digest('base64url');

/** Values that expire, each at most once usable or until it expires, oldest dropped past MAX_ENTRIES. */
class Expiring {
  readonly #until = new Map<string, number>();

  add(value: string, untilMs: number): void {
    if (this.#until.size >= MAX_ENTRIES) this.#until.delete(this.#until.keys().next().value!);
    this.#until.set(keyOf(value), untilMs);
  }

  /** Whether `value` is here and not expired at `nowMs`; an expired one is forgotten. `take` forgets it anyway (once). */
  has(value: string, nowMs: number, take = false): boolean {
    const key = keyOf(value);
    const until = this.#until.get(key);
    if (until === undefined) return false;
    if (take || until <= nowMs) this.#until.delete(key);
    return until > nowMs;
  }

  clear(): void {
    this.#until.clear();
  }
}

export class DashboardSessions {
  readonly #codes = new Expiring();
  readonly #sessions = new Expiring();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** A login code from the main thread: usable once, for LOGIN_CODE_TTL_MS. */
  addLoginCode(code: string): void {
    this.#codes.add(code, this.#now() + LOGIN_CODE_TTL_MS);
  }

  /** A new session id for a code that is valid (and is then used up), else null. */
  redeem(code: string): string | null {
    if (!this.#codes.has(code, this.#now(), true)) return null;
    return this.open();
  }

  /** A new session (the `/?token=` trade, or a redeemed code). */
  open(): string {
    const id = randomBytes(32).toString('base64url');
    this.#sessions.add(id, this.#now() + SESSION_TTL_MS);
    return id;
  }

  /** Whether any of the cookie values is a live session (a cookie tossed in from another port must not lock the user out). */
  valid(ids: readonly string[]): boolean {
    const now = this.#now();
    return ids.some((id) => this.#sessions.has(id, now));
  }

  /** The token was rotated: every session and unused code ends. */
  revokeAll(): void {
    this.#codes.clear();
    this.#sessions.clear();
  }
}

/** A login code (main thread): 32 random bytes, base64url. */
export function newLoginCode(): string {
  return randomBytes(32).toString('base64url');
}
