/**
 * `--api HOST:PORT` of `daemon run` and `daemon start` (issue 14): the loopback address the
 * daemon serves the Globus Timers REST API on. Checked here, before anything starts: a bad or
 * non-loopback address is exit 2 and no daemon is started.
 */
import { API_ADDR_ENV, apiBaseUrl, parseApiAddr, type ApiAddr } from '../core/api-addr.ts';
import { ERROR_CODES, TimerError } from '../core/errors.ts';
import { single } from './options.ts';

/** What the error messages suggest: the usual local port of a web API. */
export const EXAMPLE_API_ADDR = '127.0.0.1:8080';

export const apiOption = {
  ...single('api'),
  type: 'string',
  requiresArg: true,
  describe: `Also serve the Globus Timers REST API (for globus-sdk and @globus/sdk) on this loopback address: HOST:PORT, e.g. ${EXAMPLE_API_ADDR} or [::1]:8080, or a port (default: $${API_ADDR_ENV}, else no API)`,
} as const;

/** `--api` checked, or undefined when not given (`daemon run` then leaves $GLOBUS_TIMER_API_ADDR to the daemon). */
export function apiFlag(text: string | undefined): ApiAddr | undefined {
  return text === undefined ? undefined : parseApiAddr(text, '--api');
}

/**
 * The address `daemon start` asks for: `--api`, else $GLOBUS_TIMER_API_ADDR (checked here, so
 * a bad value is exit 2 naming the variable rather than a daemon that fails in the
 * background), else null: no API. An empty variable counts as unset.
 */
export function wantedApiAddr(flag: string | undefined, env: NodeJS.ProcessEnv): ApiAddr | null {
  const fromFlag = apiFlag(flag);
  if (fromFlag) return fromFlag;
  const fromEnv = env[API_ADDR_ENV];
  return fromEnv ? parseApiAddr(fromEnv, API_ADDR_ENV) : null;
}

/** The environment of a daemon `daemon start` spawns: the address it should serve, in the text form the daemon reads. */
export function daemonEnv(env: NodeJS.ProcessEnv, addr: ApiAddr | null): NodeJS.ProcessEnv {
  if (addr === null) return env;
  return { ...env, [API_ADDR_ENV]: apiBaseUrl(addr).slice('http://'.length) };
}

/**
 * A running daemon that does not serve the API asked for: its address is fixed when it
 * starts, so the only remedy is a restart with it (exit 1, DAEMON_ALREADY_RUNNING). Port 0
 * (any free port) is served by any port on the same host.
 */
export function checkServes(status: { pid: number; api_url: string | null }, wanted: ApiAddr | null): void {
  if (wanted === null) return;
  const want = new URL(apiBaseUrl(wanted));
  const have = status.api_url ? new URL(status.api_url) : null;
  if (have && have.hostname === want.hostname && (wanted.port === 0 || have.port === want.port)) return;
  const serving = have ? `serves the REST API at ${status.api_url}, not ${want.origin}` : 'serves no REST API';
  const addr = want.host === want.hostname ? `${want.host}:80` : want.host;
  throw new TimerError(
    ERROR_CODES.DAEMON_ALREADY_RUNNING,
    `a daemon is already running (pid ${status.pid}) and ${serving}; the address is fixed when it starts, so restart it: globus-timer daemon stop && globus-timer daemon start --api ${addr}`,
  );
}

/** `api url` with a daemon that serves no API: how to turn it on (exit 1). */
export function apiOffError(pid: number): TimerError {
  return new TimerError(
    ERROR_CODES.API_OFF,
    `the daemon (pid ${pid}) serves no REST API: it was started without --api; restart it with one: globus-timer daemon stop && globus-timer daemon start --api ${EXAMPLE_API_ADDR}`,
  );
}
