/**
 * Who may talk to the daemon's HTTP server besides an SDK with the bearer token (issue 16
 * item 4): a browser on this machine with the dashboard's cookie. A page served on
 * loopback is reachable by every web site the user visits (through their browser), so:
 *
 * - `Host` must name the loopback address or `localhost` with our port: a site that points
 *   its own DNS name at 127.0.0.1 (DNS rebinding) sends its own name, and is turned away.
 * - The cookie is `SameSite=Strict` and `HttpOnly`, and a request that changes something
 *   with it must carry an `Origin` that is ours (CSRF): a foreign Origin is refused always.
 * - The cookie's value is not the token: it is an HMAC of a fixed label keyed by the token,
 *   so it cannot be used as a bearer token, and a rotated token voids every cookie made
 *   from the old one.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'globus_timer_session';

const COOKIE_LABEL = 'globus-timer dashboard session v1';

/** The cookie value that goes with `token` (base64url, 43 characters). */
export function sessionOf(token: string): string {
  return createHmac('sha256', token).update(COOKIE_LABEL).digest('base64url');
}

/** Constant time for equal lengths; a different length is no match (it says nothing of the value). */
export function sameText(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The value of cookie `name` in a Cookie header, or null. */
export function cookieOf(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/** The Host values that are ours: the loopback names with the port we listen on. */
export function ourHosts(port: number): Set<string> {
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
}

export function hostAllowed(host: string | undefined, hosts: Set<string>): boolean {
  return host !== undefined && hosts.has(host.toLowerCase());
}

export function originAllowed(origin: string, hosts: Set<string>): boolean {
  const lower = origin.toLowerCase();
  return lower.startsWith('http://') && hosts.has(lower.slice('http://'.length));
}

/** Methods that change something: with the cookie, they need our Origin. */
export function changes(method: string | undefined): boolean {
  return method === 'POST' || method === 'PUT' || method === 'PATCH' || method === 'DELETE';
}

/** The Set-Cookie header of a session: for this host only (no Domain), every path, never sent cross-site, never readable by scripts. */
export function sessionCookieHeader(token: string): string {
  return `${SESSION_COOKIE}=${sessionOf(token)}; HttpOnly; SameSite=Strict; Path=/`;
}
