/** Action status documents as real providers send them (reference action_status.schema.json). */

const ACTION_STATUSES = ['SUCCEEDED', 'FAILED', 'ACTIVE', 'INACTIVE'] as const;
type ActionStatus = (typeof ACTION_STATUSES)[number];

export interface ParsedStatus {
  status: ActionStatus;
  actionId: string | null;
  document: Record<string, unknown>;
}

/**
 * Whether an action id may go into the provider's URLs (`<base>/<id>/status`, …). The id is
 * percent-encoded there (encodeURIComponent: `/`, `?`, `#`, `%`, backslash and controls are
 * escaped, so `%2e%2e` arrives as `%252e%252e`), which leaves just these: an empty id, `.`
 * and `..` are path segments the URL parser removes or resolves, moving the request to
 * `<base>/status` or to the provider's root (issue 11 item 8).
 */
export function isUsableActionId(id: unknown): id is string {
  return typeof id === 'string' && id !== '' && id !== '.' && id !== '..';
}

/** The `action_id` of a document, when it is a string that cannot be used in a URL (see isUsableActionId). */
export function unusableActionId(json: unknown): string | null {
  if (typeof json !== 'object' || json === null) return null;
  const id = (json as Record<string, unknown>).action_id;
  return typeof id === 'string' && !isUsableActionId(id) ? id : null;
}

/**
 * Read a status document leniently: real providers send `label: null`, `release_after:
 * null` and extra keys, which the schema rejects; we need only `status` and `action_id`.
 * Returns null when the document has no recognisable status, or an action id that cannot
 * be used in a URL (`''`, `.`, `..`): such an answer is invalid, whatever its status.
 */
export function parseActionStatus(json: unknown): ParsedStatus | null {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return null;
  const doc = json as Record<string, unknown>;
  const status = typeof doc.status === 'string' ? doc.status.toUpperCase() : '';
  if (!(ACTION_STATUSES as readonly string[]).includes(status)) return null;
  if (unusableActionId(doc) !== null) return null;
  const actionId = isUsableActionId(doc.action_id) ? doc.action_id : null;
  return { status: status as ActionStatus, actionId, document: doc };
}

export function isTerminal(status: string | null): boolean {
  return status === 'SUCCEEDED' || status === 'FAILED';
}
