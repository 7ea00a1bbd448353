/**
 * Where the daemon's Timers REST API listens (issue 14): `--api HOST:PORT` on `daemon run`
 * and `daemon start`, or GLOBUS_TIMER_API_ADDR. Loopback only (127.0.0.0/8 or ::1): the API
 * answers with the user's jobs, so it is never offered to the network — users who outgrow
 * one machine have the hosted Timers service. Pure: the CLI checks a flag with it (exit 2
 * before anything starts), the daemon reads its environment with it.
 */

import net from 'node:net';
import { InvalidInputError } from './errors.ts';

export const API_ADDR_ENV = 'GLOBUS_TIMER_API_ADDR';

export interface ApiAddr {
  /** A loopback address as given: `127.0.0.1`, `127.1.2.3` or `::1`. */
  host: string;
  /** 1–65535, or 0: any free port (tests; the bound port is what `daemon status` shows). */
  port: number;
}

/**
 * `127.0.0.1:8080`, `[::1]:8080`, or a bare port (`8080`, meaning 127.0.0.1). `source`
 * names where the text came from in the error (`--api`, `GLOBUS_TIMER_API_ADDR`).
 */
export function parseApiAddr(text: string, source: string): ApiAddr {
  const trimmed = text.trim();
  const m = /^(?:(\[[^\]]*\]|[^:[\]]+):)?(\d{1,5})$/.exec(trimmed);
  const host = m?.[1] === undefined ? '127.0.0.1' : m[1].replace(/^\[|\]$/g, '');
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || port > 65_535) {
    throw new InvalidInputError(`invalid ${source} ${JSON.stringify(text)}: give HOST:PORT on loopback, e.g. 127.0.0.1:8080 or [::1]:8080, or a port`);
  }
  if (!isLoopback(host)) {
    const fix = net.isIP(host)
      ? 'to reach timers from other machines, use the hosted Globus Timers service'
      : `give the address itself, not a name (${host} could resolve to another address)`;
    throw new InvalidInputError(`invalid ${source} ${JSON.stringify(text)}: the API listens on loopback only (127.0.0.1 or ::1); ${fix}`);
  }
  return { host, port };
}

/** 127.0.0.0/8 or ::1, as literal addresses (a name such as `localhost` could resolve elsewhere). */
export function isLoopback(host: string): boolean {
  if (net.isIPv4(host)) return host.split('.')[0] === '127';
  if (net.isIPv6(host)) return host === '::1' || /^0{0,4}(:0{0,4}){6}:0{0,3}1$/.test(host);
  return false;
}

/** The base URL clients are given: `http://127.0.0.1:8080`, `http://[::1]:8080`. */
export function apiBaseUrl(addr: ApiAddr): string {
  return `http://${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}`;
}
