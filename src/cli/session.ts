import { spawn } from 'node:child_process';
import { AuthClient, pkcePair } from '../auth/auth-client.ts';
import { authSettings, type AuthSettings } from '../auth/environment.ts';
import { IDENTITY_SCOPES, loginCommand, mergeScopes, TRANSFER_SCOPE } from '../core/scopes.ts';
import { clearTokenCache, consentedScopes, lookupToken, TokenCache, withGrants } from '../auth/token-cache.ts';
import { CLI_REFRESH_MARGIN_MS, UserTokens } from '../auth/tokens.ts';
import { resolvePaths } from '../config/paths.ts';
import { AuthError, AuthRequiredError, ERROR_CODES, InvalidInputError, TimerError } from '../core/errors.ts';
import { safe } from '../util/printable.ts';
import { systemClock } from '../core/clock.ts';
import type { CliIo } from './context.ts';

/**
 * The user's Globus session from the CLI (reference globus-timer-cli.md §2): the
 * native-app login with PKCE, the consent check before a job is submitted, whoami,
 * logout and revoke. Tokens go only into the token cache, never to stdout.
 */

export const NOT_LOGGED_IN = 'Not logged in yet; use `globus-timer session login` to initialize your session';

function tokenCacheFor(io: CliIo): TokenCache {
  return new TokenCache(resolvePaths(io.env).tokensFile, (message) => io.err(`globus-timer: warning: ${message}`));
}

function userSettings(io: CliIo): AuthSettings {
  const settings = authSettings(io.env);
  if (settings.clientSecret) {
    throw new InvalidInputError(
      `GLOBUS_TIMER_CLIENT_SECRET is set, so globus-timer acts as client ${settings.clientId} and has no user session; unset it to log in as yourself`,
    );
  }
  return settings;
}

/**
 * Log in: print the authorize URL (and open a browser when asked and one is at hand), read
 * the pasted code, exchange it with the PKCE verifier, and keep the tokens. Asks again for
 * every scope already consented to, so a new consent never drops an old one.
 */
export async function login(io: CliIo, extraScopes: readonly string[], { browser }: { browser: boolean }): Promise<string> {
  const settings = userSettings(io);
  const cache = tokenCacheFor(io);
  const client = new AuthClient(settings);
  const scopes = mergeScopes([...IDENTITY_SCOPES, TRANSFER_SCOPE, ...consentedScopes(cache.read(), settings.clientId), ...extraScopes]);
  const { verifier, challenge } = pkcePair();
  const url = client.authorizeUrl(scopes, challenge);
  const banner = 'Please log into Globus here';
  io.out(`${banner}:\n${'-'.repeat(banner.length)}\n${url}\n${'-'.repeat(banner.length)}\n`);
  if (browser) openBrowser(url, io.env);
  const code = (await io.readLine?.('Enter the resulting Authorization Code here: '))?.trim();
  if (!code) throw new InvalidInputError('no authorization code was entered; run `globus-timer session login` again and paste the code Globus shows');
  let grants: Awaited<ReturnType<AuthClient['exchangeCode']>>;
  try {
    grants = await client.exchangeCode(code, verifier);
  } catch (err) {
    if (err instanceof AuthError && err.kind === 'refused') {
      throw new TimerError(ERROR_CODES.AUTH_REQUIRED, `Globus Auth did not accept the code (${err.message}); run \`globus-timer session login\` again`);
    }
    throw err;
  }
  await cache.update((current) => withGrants(current, settings.clientId, grants, scopes));
  const authToken = grants.find((g) => g.resourceServer === 'auth.globus.org');
  if (!authToken)
    throw new TimerError(
      ERROR_CODES.AUTH_REQUIRED,
      'Globus Auth sent no token for auth.globus.org, so the user is unknown; run `globus-timer session login` again',
    );
  return userName(await client.userinfo(authToken.accessToken));
}

function userName(info: Record<string, unknown>): string {
  return typeof info.preferred_username === 'string' ? info.preferred_username : String(info.sub ?? 'unknown user');
}

/** A browser only where one can show: macOS, or a Linux/BSD desktop session. Failure is silent: the URL is printed anyway. */
function openBrowser(url: string, env: NodeJS.ProcessEnv): void {
  const opener = process.platform === 'darwin' ? 'open' : env.DISPLAY || env.WAYLAND_DISPLAY ? 'xdg-open' : null;
  if (!opener) return;
  try {
    const child = spawn(opener, [url], { detached: true, stdio: 'ignore' });
    child.on('error', () => {});
    child.unref();
  } catch {
    // no browser: the user copies the URL
  }
}

/**
 * Before a job with a scope is submitted or resumed: the user must have consented to the
 * scope, or its runs would only fail. At a terminal the login flow starts; elsewhere the
 * error names the command to run. A confidential client (headless) consents on its own.
 */
export async function ensureConsent(io: CliIo, scope: string): Promise<void> {
  const settings = authSettings(io.env);
  if (settings.clientSecret) return;
  if (lookupToken(tokenCacheFor(io).read(), settings.clientId, scope).kind === 'found') return;
  if (!io.interactive || !io.readLine) {
    throw new AuthRequiredError(
      'ConsentRequired',
      [scope],
      `you have not consented to scope ${scope} yet; run: ${loginCommand([scope])}, then run this command again`,
    );
  }
  io.err(safe`globus-timer: this job needs your consent to ${scope}; starting the login`);
  const username = await login(io, [scope], { browser: true });
  io.err(safe`globus-timer: logged in as ${username}`);
  if (lookupToken(tokenCacheFor(io).read(), settings.clientId, scope).kind !== 'found') {
    throw new AuthRequiredError('ConsentRequired', [scope], `Globus Auth did not grant scope ${scope}; run: ${loginCommand([scope])}`);
  }
}

/** The logged-in user's identity from Globus Auth, or null when there is no session. */
export async function currentUser(io: CliIo): Promise<Record<string, unknown> | null> {
  const settings = userSettings(io);
  const cache = tokenCacheFor(io);
  if (lookupToken(cache.read(), settings.clientId, 'openid').kind !== 'found') return null;
  const client = new AuthClient(settings);
  const tokens = new UserTokens(cache, { client, clock: systemClock, refreshMarginMs: CLI_REFRESH_MARGIN_MS });
  try {
    return await client.userinfo(await tokens.getToken('openid', { rejected: null }));
  } catch (err) {
    if ((err instanceof AuthError && err.kind === 'refused') || err instanceof AuthRequiredError) {
      throw new TimerError(
        ERROR_CODES.AUTH_REQUIRED,
        `couldn't get user information from Globus Auth (${(err as Error).message}); if you rescinded your consents, run \`globus-timer session logout\` and log in again`,
      );
    }
    throw err;
  }
}

/** Delete the token cache, readable or not (logout is the fix for a corrupt one). */
export async function logout(io: CliIo): Promise<void> {
  await clearTokenCache(tokenCacheFor(io));
}

/**
 * Revoke every token at Globus Auth, then delete the cache. A token Auth could not revoke
 * keeps the cache in place, so the command can be run again.
 */
export async function revoke(io: CliIo): Promise<boolean> {
  const settings = userSettings(io);
  const cache = tokenCacheFor(io);
  const current = cache.read();
  if (!current) return false;
  const client = new AuthClient(settings);
  for (const entry of Object.values(current.tokens)) {
    if (entry.refresh_token) await client.revoke(entry.refresh_token);
    await client.revoke(entry.access_token);
  }
  await cache.update(() => null);
  return true;
}
