/**
 * Scopes known from the run URL alone, for the Globus providers whose scope is fixed
 * (issue 12 item 12): `job submit` uses them without asking the provider, so such a submit
 * needs no network. Decided before introspection rather than after it fails: the answer
 * cannot differ (the Transfer Action Provider acts with the Transfer scope, the token rules
 * send that token to Transfer's hosts only; a flow is run with its own scope, by Globus's
 * naming rule), and a flow's document at the Flows service is not readable without a token.
 *
 * - The Transfer Action Provider (its run URL, or GLOBUS_TIMER_TRANSFER_ACTION_URL's) →
 *   the Transfer scope. A Globus service's own scope, bound to its hosts (token-rules.ts).
 * - A flow at the Flows service, `https://flows.globus.org/flows/<flow_id>/run` (or the
 *   Flows hosts of GLOBUS_SDK_ENVIRONMENT / GLOBUS_SDK_SERVICE_URL_FLOWS) → the flow's scope
 *   `https://auth.globus.org/scopes/<flow_id>/flow_<flow_id with _ for ->_user`. It needs no
 *   confirmation, unlike a scope a provider names (cli/submit.ts): it is derived from a URL
 *   on Globus's own Flows hosts, not chosen by whoever answers there, and a token for it
 *   lets its holder run that one flow, which is what the job is for.
 */

import { TRANSFER_SCOPE } from '../core/scopes.ts';
import { tokenRulesFromEnv } from '../auth/token-rules.ts';
import { TRANSFER_ACTION_URL, transferActionUrl } from '../core/transfer.ts';

/** The URL without a trailing slash, for comparing run URLs as written. */
function comparable(url: string): string | null {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname.replace(/\/+$/, '')}${u.search}`;
  } catch {
    return null;
  }
}

const FLOW_RUN_PATH = /^\/flows\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/run\/?$/i;

/** The flow id of a run URL at the Flows service, or null. */
function flowIdOf(runUrl: string, env: NodeJS.ProcessEnv): string | null {
  let url: URL;
  try {
    url = new URL(runUrl);
  } catch {
    return null;
  }
  const flowsHosts = tokenRulesFromEnv(env).hostsByService.get('Globus Flows');
  const id = FLOW_RUN_PATH.exec(url.pathname)?.[1];
  return id && !url.search && flowsHosts?.has(url.host.toLowerCase()) ? id.toLowerCase() : null;
}

/** A flow's scope, as the Flows service names it. */
export function flowScope(flowId: string): string {
  return `https://auth.globus.org/scopes/${flowId}/flow_${flowId.replace(/-/g, '_')}_user`;
}

/** The Transfer Action Provider's run URLs here: the production one and the override, if that is a valid one. */
function transferRunUrls(env: NodeJS.ProcessEnv): (string | null)[] {
  let override: string | null = null;
  try {
    override = comparable(transferActionUrl(env));
  } catch {
    // A bad override is job transfer's error to report; a job elsewhere is no business of it.
  }
  return [comparable(TRANSFER_ACTION_URL), override];
}

/** The scope a job at `runUrl` needs when it is known without asking the provider, else null. */
export function knownScope(runUrl: string, env: NodeJS.ProcessEnv): string | null {
  const url = comparable(runUrl);
  if (url !== null && transferRunUrls(env).includes(url)) return TRANSFER_SCOPE;
  const flowId = flowIdOf(runUrl, env);
  return flowId === null ? null : flowScope(flowId);
}
