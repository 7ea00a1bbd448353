import { randomBytes } from 'node:crypto';
import { readPrivateFile, writePrivateFileAtomically } from '../fs/private.ts';

/**
 * The bearer token of the daemon's Timers REST API (issue 14). Loopback TCP is open to every
 * local user, so every request must carry `Authorization: Bearer <token>`: a random 256-bit
 * secret (base64url, 43 characters) in a 0600 file of the state directory, which only the
 * user can read. The daemon makes it on its first start with the API and keeps it across
 * restarts (scripts hold it); `globus-timer api token` prints it, and `api token --rotate` has
 * the daemon replace it (a token that leaked stops working at once). One implementation for
 * both sides, here (an I/O folder both the daemon and the CLI may import).
 */

const TOKEN_BYTES = 32;
/** base64url of 32 bytes, no padding. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;
const WHAT = 'API token file';

/**
 * The token in `file`; null when there is none yet, or what is there is not a token (a write
 * cut short): the daemon then makes a new one at its next start. Opened as every private
 * file is (fs/private.ts: no symbolic links, the user's own, made 0600 if it was not).
 */
export function readApiToken(file: string): string | null {
  const text = readPrivateFile(file, WHAT)?.trim();
  return text !== undefined && TOKEN_SHAPE.test(text) ? text : null;
}

/**
 * The daemon's side: the token in `file`, made first if there is none (or it is unreadable
 * as a token). Written to a private temp file and renamed into place, so the file is never
 * seen half-written. The daemon holds the state lock when it calls this: no other writer.
 */
export function ensureApiToken(file: string): string {
  return readApiToken(file) ?? rotateApiToken(file);
}

/** A new token in `file`, replacing any: the daemon's side of `api token --rotate` (it holds the state lock). */
export function rotateApiToken(file: string): string {
  const token = randomBytes(TOKEN_BYTES).toString('base64url');
  writePrivateFileAtomically(file, `${token}\n`, WHAT);
  return token;
}
