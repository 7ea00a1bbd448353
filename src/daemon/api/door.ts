/**
 * Who may talk to the daemon's HTTP server besides an SDK with the bearer token (issue 16
 * item 4): a browser on this machine with the dashboard's cookie. A page served on
 * loopback is reachable by every web site the user visits (through their browser), so:
 *
 * - `Host` must name the loopback address or `localhost` (or the bound address as the URL
 *   writes it) with our port: a site that points its own DNS name at 127.0.0.1 (DNS
 *   rebinding) sends its own name, and is turned away. A request without Host is refused.
 * - The cookie is `SameSite=Strict` and `HttpOnly`, and a request that changes something
 *   with it must carry an `Origin` that is ours (CSRF): a foreign Origin is refused always.
 * - The cookie's value is a random session id (api/sessions.ts), not the token nor made from
 *   it. Browsers do not keep cookies apart by port, so a page served on another local port
 *   may get it: the cookie is therefore good only for the dashboard's own routes (its pages,
 *   files, stream and JSON, and pause / resume / run now), never for the Timers API's
 *   submit, update or delete, which take the bearer token only.
 */

/** The cookie's name: with the port, so that two daemons' dashboards do not overwrite each other's. */
export function sessionCookieName(port: number): string {
  return `globus_timer_session_${port}`;
}

/**
 * Every value of cookie `name` in a Cookie header: another port's page may set one of the
 * same name (cookie tossing), and the browser then sends both.
 */
export function cookiesOf(header: string | undefined, name: string): string[] {
  if (!header) return [];
  const values: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) values.push(part.slice(eq + 1).trim());
  }
  return values;
}

/**
 * The Host values that are ours: the loopback names with the port we listen on, and the
 * bound address as our URL writes it (127.0.0.2:8080, [::ffff:7f00:1]:8080).
 */
export function ourHosts(port: number, urlHost: string): Set<string> {
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, urlHost.toLowerCase()]);
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

const JOB_PAGE = /^\/job\/[0-9a-f-]{36}$/i;
const JOB_ACTION = /^\/jobs\/[^/]+\/(pause|resume|run)\/?$/;

/**
 * The routes the cookie opens: the dashboard's pages, files, event stream and JSON, and the
 * three buttons of a job's page. Everything else (the Timers API) needs the bearer token.
 */
export function cookieOpens(method: string | undefined, path: string): boolean {
  if (method === 'GET' || method === 'HEAD') {
    return path === '/' || JOB_PAGE.test(path) || path.startsWith('/static/') || path === '/events' || path.startsWith('/dashboard/api/');
  }
  return method === 'POST' && JOB_ACTION.test(path);
}

/** The Set-Cookie header of a session: for this host only (no Domain), every path, never sent cross-site, never readable by scripts. */
export function sessionCookieHeader(name: string, id: string, maxAgeMs: number): string {
  return `${name}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${Math.floor(maxAgeMs / 1000)}`;
}
