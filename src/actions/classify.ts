import type { RunError } from '../core/vocabulary.ts';
import type { ProviderOutcome } from './provider.ts';
import { parseActionStatus, unusableActionId, type ParsedStatus } from './status.ts';

/**
 * What an Action Provider's answer means for a run (SPEC §3), decided in one place:
 * - `ok`: 200/201/202 with a readable status document;
 * - `transient`: network errors, timeouts, 429 and 5xx: retry with the same request_id;
 * - `auth`: 401/403: refresh the token once, then the job needs the user;
 * - `permanent`: any other answer: the run fails now, keeping the provider's error.
 */
export type Verdict =
  | { kind: 'ok'; httpStatus: number; status: ParsedStatus }
  | { kind: 'transient'; error: RunError; retryAfterMs: number | null }
  | { kind: 'auth'; error: RunError }
  | { kind: 'permanent'; error: RunError };

const MAX_ERROR_TEXT = 2_000;

export function classify(outcome: ProviderOutcome): Verdict {
  if (outcome.kind === 'transport') {
    const error: RunError = { code: outcome.code, message: outcome.message };
    return outcome.code === 'ACTION_RESPONSE_TOO_LARGE' ? { kind: 'permanent', error } : { kind: 'transient', error, retryAfterMs: null };
  }
  const { httpStatus } = outcome;
  if (httpStatus === 200 || httpStatus === 201 || httpStatus === 202) {
    const status = parseActionStatus(outcome.json);
    if (status) return { kind: 'ok', httpStatus, status };
    const badId = unusableActionId(outcome.json);
    return {
      kind: 'permanent',
      error: {
        code: 'ACTION_INVALID_RESPONSE',
        message:
          badId === null
            ? `provider answered HTTP ${httpStatus} without a valid action status document`
            : `provider answered HTTP ${httpStatus} with action_id ${JSON.stringify(badId)}, which cannot name an action (it would move requests to another path)`,
        httpStatus,
        providerError: providerError(outcome),
      },
    };
  }
  const error: RunError = {
    code: 'ACTION_HTTP',
    message: `provider answered HTTP ${httpStatus}${describe(outcome.json)}`,
    httpStatus,
    providerError: providerError(outcome),
  };
  if (httpStatus === 429 || httpStatus >= 500) return { kind: 'transient', error, retryAfterMs: outcome.retryAfterMs };
  if (httpStatus === 401 || httpStatus === 403) return { kind: 'auth', error: { ...error, code: 'ACTION_AUTH' } };
  return { kind: 'permanent', error };
}

/** The provider's error as it sent it: its JSON document, else the start of its text. */
function providerError(outcome: Extract<ProviderOutcome, { kind: 'response' }>): unknown {
  if (outcome.json !== undefined) return outcome.json;
  return outcome.text ? outcome.text.slice(0, MAX_ERROR_TEXT) : null;
}

/** Globus errors carry `code` and `description`/`message`; show them in the one-line message. */
function describe(json: unknown): string {
  if (typeof json !== 'object' || json === null) return '';
  const doc = json as Record<string, unknown>;
  const parts = [doc.code, doc.description ?? doc.message].filter((p) => typeof p === 'string' && p);
  return parts.length ? `: ${parts.join(': ')}`.slice(0, 300) : '';
}
