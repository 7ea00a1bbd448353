import { InvalidInputError } from '../core/errors.ts';
import { isLoopback } from '../core/api-addr.ts';
import { globusEnvironment } from '../auth/environment.ts';

/**
 * Which Timers service a job command drives (issue 15): `local`, the daemon on this
 * machine over its Unix socket (the default); `hosted`, the Globus Timers service (in the
 * Globus environment GLOBUS_SDK_ENVIRONMENT names, or at GLOBUS_SDK_SERVICE_URL_TIMERS, as
 * the Globus SDKs read them); or the base URL of any Timers REST API, such as another
 * globus-timer daemon's (`globus-timer api url` there).
 */
export const SERVICE_ENV = 'GLOBUS_TIMER_SERVICE';
/** The bearer token for a Timers API given by URL: another daemon's `globus-timer api token`. */
export const SERVICE_TOKEN_ENV = 'GLOBUS_TIMER_SERVICE_TOKEN';

export type ServiceChoice = { kind: 'local' } | { kind: 'hosted'; baseUrl: string } | { kind: 'url'; baseUrl: string };

/** The Timers hosts of the Globus environments (@globus/sdk's services/timers/config.js). */
const HOSTED_TIMERS_HOSTS: Readonly<Record<string, string>> = {
  production: 'timer.automate.globus.org',
  preview: 'preview.timer.automate.globus.org',
  sandbox: 'sandbox.timer.automate.globus.org',
  test: 'test.timer.automate.globus.org',
  integration: 'integration.timer.automate.globus.org',
  staging: 'staging.timer.automate.globus.org',
};

function hostedBaseUrl(env: NodeJS.ProcessEnv): string {
  const override = (env.GLOBUS_SDK_SERVICE_URL_TIMERS ?? env.GLOBUS_SDK_SERVICE_URL_TIMER)?.trim();
  if (override) return override.replace(/\/+$/, '');
  const name = globusEnvironment(env);
  const host = HOSTED_TIMERS_HOSTS[name];
  if (!host) throw new InvalidInputError(`GLOBUS_SDK_ENVIRONMENT "${name}" has no Timers service: use ${Object.keys(HOSTED_TIMERS_HOSTS).join(', ')}`);
  return `https://${host}`;
}

/**
 * `--service` (else GLOBUS_TIMER_SERVICE, else local). A URL must be https, or http to a
 * loopback address: the token it is sent with is a secret, and plain http elsewhere would
 * show it to the network.
 */
export function serviceChoice(flag: string | undefined, env: NodeJS.ProcessEnv): ServiceChoice {
  const text = (flag ?? env[SERVICE_ENV] ?? '').trim();
  const where = flag !== undefined ? '--service' : SERVICE_ENV;
  if (text === '' || text === 'local') return { kind: 'local' };
  if (text === 'hosted') return { kind: 'hosted', baseUrl: hostedBaseUrl(env) };
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidInputError(`invalid ${where} "${text}": use local, hosted, or the base URL of a Timers API (e.g. http://127.0.0.1:8080)`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(host))) {
    throw new InvalidInputError(`invalid ${where} "${text}": a Timers API is reached over https, or over http on loopback (127.0.0.1, ::1) only`);
  }
  if (url.search || url.hash || url.username || url.password) {
    throw new InvalidInputError(`invalid ${where} "${text}": give the base URL only, without a query, fragment or credentials`);
  }
  return { kind: 'url', baseUrl: url.href.replace(/\/+$/, '') };
}

/** How `-v` names the service. */
export function serviceName(choice: ServiceChoice): string {
  return choice.kind === 'local'
    ? 'the local daemon'
    : choice.kind === 'hosted'
      ? `the Globus Timers service at ${choice.baseUrl}`
      : `the Timers API at ${choice.baseUrl}`;
}
