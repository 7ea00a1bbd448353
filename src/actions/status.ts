/** Action status documents as real providers send them (reference action_status.schema.json). */

export const TERMINAL_STATUSES = ['SUCCEEDED', 'FAILED'] as const;
export const ACTION_STATUSES = ['SUCCEEDED', 'FAILED', 'ACTIVE', 'INACTIVE'] as const;
export type ActionStatus = (typeof ACTION_STATUSES)[number];

export interface ParsedStatus {
  status: ActionStatus;
  actionId: string | null;
  document: Record<string, unknown>;
}

/**
 * Read a status document leniently: real providers send `label: null`, `release_after:
 * null` and extra keys, which the schema rejects; we need only `status` and `action_id`.
 * Returns null when the document has no recognisable status.
 */
export function parseActionStatus(json: unknown): ParsedStatus | null {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return null;
  const doc = json as Record<string, unknown>;
  const status = typeof doc.status === 'string' ? doc.status.toUpperCase() : '';
  if (!(ACTION_STATUSES as readonly string[]).includes(status)) return null;
  const actionId = typeof doc.action_id === 'string' && doc.action_id ? doc.action_id : null;
  return { status: status as ActionStatus, actionId, document: doc };
}

export function isTerminal(status: string | null): boolean {
  return status === 'SUCCEEDED' || status === 'FAILED';
}
