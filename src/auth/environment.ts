import { InvalidInputError } from '../core/errors.ts';

/**
 * Where Globus Auth is and which client talks to it, from the environment, the way the
 * Globus SDKs read it: `GLOBUS_SDK_SERVICE_URL_AUTH` overrides the host outright (tests
 * point it at a loopback fake), else `GLOBUS_SDK_ENVIRONMENT` picks a Globus environment.
 */

/** The original globus-timer CLI's public native-app client (reference §2). */
export const DEFAULT_CLIENT_ID = 'bc77d044-1f42-46cc-9702-87f756cd08a6';

export interface AuthSettings {
  /** e.g. https://auth.globus.org, no trailing slash. */
  baseUrl: string;
  clientId: string;
  /** Set for a confidential client: the daemon then uses the client-credentials grant. */
  clientSecret: string | null;
}

/** As globus-sdk's EnvConfig: production and preview live under globus.org, the rest under globuscs.info. */
export function authBaseUrl(env: NodeJS.ProcessEnv): string {
  const override = env.GLOBUS_SDK_SERVICE_URL_AUTH?.trim();
  if (override) return override.replace(/\/+$/, '');
  const name = globusEnvironment(env);
  if (name === 'production') return 'https://auth.globus.org';
  if (name === 'preview') return 'https://auth.preview.globus.org';
  return `https://auth.${name}.globuscs.info`;
}

/** GLOBUS_SDK_ENVIRONMENT as the Globus SDKs read it: `production` when unset (or `default`), lower case. */
export function globusEnvironment(env: NodeJS.ProcessEnv): string {
  const name = (env.GLOBUS_SDK_ENVIRONMENT?.trim() || 'production').toLowerCase();
  if (name === 'default') return 'production';
  if (!/^[a-z0-9-]+$/.test(name)) {
    throw new InvalidInputError(`invalid GLOBUS_SDK_ENVIRONMENT "${name}": use production, preview, sandbox, test, integration or staging`);
  }
  return name;
}

export function authSettings(env: NodeJS.ProcessEnv): AuthSettings {
  const clientId = env.GLOBUS_TIMER_CLIENT_ID?.trim() || null;
  const clientSecret = env.GLOBUS_TIMER_CLIENT_SECRET?.trim() || null;
  if (clientSecret && !clientId) {
    throw new InvalidInputError('GLOBUS_TIMER_CLIENT_SECRET is set without GLOBUS_TIMER_CLIENT_ID: set both for a confidential client, or neither');
  }
  return { baseUrl: authBaseUrl(env), clientId: clientId ?? DEFAULT_CLIENT_ID, clientSecret };
}
