/**
 * Where a Globus token may go (SPEC §6, issue 11 item 1). Pure: the environment is read
 * once into `TokenRules`, and every check is a function of a scope and a URL.
 *
 * 1. A token for a Globus service's own resource server (Auth, Transfer, Timers, Flows,
 *    Groups, Search, Compute, …) is sent only to that service's hosts, over https. The
 *    table below is the one place that says which hosts those are. A provider at any other
 *    URL that names such a scope in its introspection document must not get the user's
 *    Transfer or Auth token just by asking for it.
 * 2. Any other scope (a provider's own, a flow's) is the user's choice: named with
 *    `--scope`, or the introspected one confirmed at a terminal (cli/submit.ts).
 * 3. No Globus token over plain http, loopback included, unless
 *    GLOBUS_TIMER_ALLOW_HTTP_TOKENS=1 (local test providers; the daemon logs a warning).
 *
 * The daemon checks 1 and 3 when a job is submitted and again before every request that
 * carries a token (the runner), so jobs made before these rules, or by a client that skips
 * the CLI, are held to them too.
 */

import { parseScope } from '../core/scopes.ts';

export const ALLOW_HTTP_TOKENS_ENV = 'GLOBUS_TIMER_ALLOW_HTTP_TOKENS';
/** The Transfer Action Provider's run URL override (core/transfer.ts): its host serves Transfer. */
const TRANSFER_ACTION_URL_ENV = 'GLOBUS_TIMER_TRANSFER_ACTION_URL';

interface GlobusService {
  name: string;
  /**
   * Who owns the scope: `X` in `urn:globus:auth:scope:X:name` and in
   * `https://auth.globus.org/scopes/X/name` (a resource server's name, or the service's
   * client id for the services whose scopes are built on it).
   */
  owners: readonly string[];
  /** Bare scope words that belong to the service (the OpenID Connect scopes are Auth's). */
  words?: readonly string[];
  /** Production hosts. Other environments: see `environmentHosts`. */
  hosts: readonly string[];
  /** `GLOBUS_SDK_SERVICE_URL_<NAME>` overrides, as the Globus SDKs read them. */
  envNames: readonly string[];
}

/**
 * The Globus services whose tokens are bound to their own hosts. Hosts as the Globus SDKs
 * and globus-cli name them; the Transfer Action Provider (transfer.actions.globus.org)
 * acts with the user's Transfer token, so it is Transfer's; the legacy Automate Transfer
 * provider's scope (shut down in 2025) is bound to its own old hosts.
 */
const GLOBUS_SERVICES: readonly GlobusService[] = [
  {
    name: 'Globus Auth',
    owners: ['auth.globus.org'],
    words: ['openid', 'profile', 'email', 'offline_access'],
    hosts: ['auth.globus.org'],
    envNames: ['AUTH'],
  },
  {
    name: 'Globus Transfer',
    owners: ['transfer.api.globus.org'],
    hosts: ['transfer.api.globus.org', 'transfer.actions.globus.org'],
    envNames: ['TRANSFER', 'ACTIONS'],
  },
  {
    name: 'Globus Timers',
    owners: ['524230d7-ea86-4a52-8312-86065a9e0417'],
    hosts: ['timer.automate.globus.org'],
    envNames: ['TIMER', 'TIMERS'],
  },
  {
    name: 'Globus Flows',
    owners: ['eec9b274-0c81-4334-bdc2-54e90e689b9a', 'flows.globus.org'],
    hosts: ['flows.globus.org', 'flows.automate.globus.org'],
    envNames: ['FLOWS'],
  },
  { name: 'Globus Groups', owners: ['groups.api.globus.org'], hosts: ['groups.api.globus.org'], envNames: ['GROUPS'] },
  { name: 'Globus Groups (Nexus)', owners: ['nexus.api.globus.org'], hosts: ['nexus.api.globusonline.org'], envNames: ['NEXUS'] },
  { name: 'Globus Search', owners: ['search.api.globus.org'], hosts: ['search.api.globus.org'], envNames: ['SEARCH'] },
  {
    name: 'Globus Compute',
    owners: ['facd7ccc-c5f4-42aa-916b-a0e270e2c2a9', 'funcx_service'],
    hosts: ['compute.api.globus.org'],
    envNames: ['COMPUTE'],
  },
  {
    name: 'the legacy Globus Automate Transfer provider',
    owners: ['actions.globus.org'],
    hosts: ['actions.automate.globus.org', 'actions.globus.org'],
    envNames: [],
  },
];

export interface TokenRules {
  /** GLOBUS_TIMER_ALLOW_HTTP_TOKENS=1: tokens may go over plain http (local test providers). */
  allowHttpTokens: boolean;
  /** Per service name, every `host[:port]` its tokens may go to in this environment. */
  hostsByService: ReadonlyMap<string, ReadonlySet<string>>;
}

/** A truthy switch: set to anything but empty, 0, false or no. */
function isOn(value: string | undefined): boolean {
  return value !== undefined && !/^(|0|false|no|off)$/i.test(value.trim());
}

/**
 * The hosts of a non-production Globus environment, following the two naming schemes in
 * use (globus-sdk's EnvConfig): `transfer.api.sandbox.globuscs.info` and
 * `sandbox.timer.automate.globus.org`; preview lives under `preview.globus.org`. Every one
 * of them is a Globus-owned domain.
 */
function environmentHosts(host: string, environment: string): string[] {
  if (environment === 'production' || environment === 'default') return [host];
  const stem = host.replace(/\.globus(online)?\.org$/, '');
  const inZone = environment === 'preview' ? `${stem}.preview.globus.org` : `${stem}.${environment}.globuscs.info`;
  return [inZone, `${environment}.${host}`];
}

/** The host (with a port when it is not the scheme's default) of an override URL, or null. */
function hostOf(url: string | undefined): string | null {
  if (!url?.trim()) return null;
  try {
    return new URL(url.trim()).host.toLowerCase() || null;
  } catch {
    return null;
  }
}

export function tokenRulesFromEnv(env: NodeJS.ProcessEnv): TokenRules {
  const environment = (env.GLOBUS_SDK_ENVIRONMENT?.trim() || 'production').toLowerCase();
  const hostsByService = new Map<string, Set<string>>();
  for (const service of GLOBUS_SERVICES) {
    const hosts = new Set(service.hosts.flatMap((h) => environmentHosts(h, environment)));
    for (const name of service.envNames) {
      const override = hostOf(env[`GLOBUS_SDK_SERVICE_URL_${name}`]);
      if (override) hosts.add(override);
    }
    hostsByService.set(service.name, hosts);
  }
  const transferActions = hostOf(env[TRANSFER_ACTION_URL_ENV]);
  if (transferActions) hostsByService.get('Globus Transfer')!.add(transferActions);
  return { allowHttpTokens: isOn(env[ALLOW_HTTP_TOKENS_ENV]), hostsByService };
}

/** Strict rules for tests and library use: production hosts only, no http. */
export const STRICT_TOKEN_RULES: TokenRules = tokenRulesFromEnv({});

/** The Globus service whose own resource server a scope belongs to, or null for any other scope. */
export function globusServiceOf(scope: string): GlobusService | null {
  // Matched without regard to case: Auth compares scope strings as they are, so a case
  // variant finds no token, but it must never slip past the table either.
  const base = parseScope(scope).base.toLowerCase();
  const owner = /^urn:globus:auth:scope:([^:]+):/.exec(base)?.[1] ?? /^https:\/\/auth\.globus\.org\/scopes\/([^/]+)\//.exec(base)?.[1] ?? null;
  for (const service of GLOBUS_SERVICES) {
    if (owner !== null ? service.owners.includes(owner) : service.words?.includes(base)) return service;
  }
  return null;
}

/**
 * Why a token for `scope` must not be sent to `url`, as one line that says what to do; null
 * when it may be. Rules 1 and 3 of the module comment.
 */
export function tokenDestinationRefusal(scope: string, url: string, rules: TokenRules): string | null {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return `the token for scope ${scope} is not sent to ${JSON.stringify(url)}, which is not a URL`;
  }
  if (target.protocol !== 'https:' && !(target.protocol === 'http:' && rules.allowHttpTokens)) {
    return `no Globus token is sent over plain ${target.protocol.replace(':', '')} (${target.origin}); use an https URL, or set ${ALLOW_HTTP_TOKENS_ENV}=1 for the daemon to allow it for a local test provider`;
  }
  const service = globusServiceOf(scope);
  if (!service) return null;
  const hosts = rules.hostsByService.get(service.name) ?? new Set<string>();
  if (hosts.has(target.host.toLowerCase())) return null;
  return `a token for ${service.name} (scope ${scope}) goes only to ${[...hosts].join(', ')}, not to ${target.host}; give the provider's own scope with --scope, or --no-scope`;
}
