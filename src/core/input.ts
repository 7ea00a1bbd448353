import { runRequestProblem } from './run-request.ts';
import { RUN_STATES, type RunState } from './vocabulary.ts';
import { InvalidInputError } from './errors.ts';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../util/json-depth.ts';
import { jsonBytes, sizeWithBytes } from '../util/byte-size.ts';
import { hasUnsafeChars } from '../util/printable.ts';
import { redactUrl } from '../util/redact-url.ts';
import { formatIso } from './time.ts';

/**
 * The rules for job input (SPEC §5), shared by the CLI (so a bad flag exits 2 before any
 * RPC) and the daemon (so a client that skips the CLI gets the same answer). Pure: no I/O.
 */

/** 100 years: far beyond any real schedule, and safely inside exact millisecond arithmetic. */
/** Also the interval a job that runs once is stored with (ending after its one run): the REST API's `once` timers, hosted one-time timers copied here. */
export const MAX_INTERVAL_SECONDS = 100 * 365 * 24 * 3600;

const UNIT_SECONDS = { w: 604_800, d: 86_400, h: 3_600, m: 60, s: 1 } as const;
const INTERVAL = /^(?:(\d+)\s*w)?\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?$/i;

/**
 * `1w 2d 3h 4m 5s` (units in that order, any subset, spaces optional) or bare seconds.
 * Unlike the original, trailing junk (`1m2d`) is an error, not silently dropped.
 */
export function parseInterval(text: string): number {
  const trimmed = text.trim();
  let seconds: number;
  if (/^\d+$/.test(trimmed)) {
    seconds = Number(trimmed);
  } else {
    const m = INTERVAL.exec(trimmed);
    if (!trimmed || !m || m.slice(1).every((g) => g === undefined)) {
      throw new InvalidInputError(`invalid interval "${text}": use units in the order w d h m s (e.g. "1d", "2h 30m") or a number of seconds`);
    }
    const counts = m.slice(1).map((g) => Number(g ?? 0));
    seconds = Object.values(UNIT_SECONDS).reduce((sum, unit, i) => sum + unit * (counts[i] ?? 0), 0);
  }
  return checkIntervalSeconds(seconds, text);
}

export function checkIntervalSeconds(seconds: number, shown: unknown = seconds): number {
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_INTERVAL_SECONDS) {
    throw new InvalidInputError(`invalid interval ${JSON.stringify(shown)}: it must be a whole number of seconds from 1 to ${MAX_INTERVAL_SECONDS}`);
  }
  return seconds;
}

function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127(?:\.\d{1,3}){3}$/.test(host);
}

/** Action URLs must be https, or http to a loopback address (a local provider or a test). */
export function checkActionUrl(text: string): string {
  // Echoed without its password, whichever rule refuses it (util/redact-url.ts).
  const invalid = (why: string) => new InvalidInputError(`invalid action URL "${redactUrl(text)}": ${why}`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid('give a full URL such as https://transfer.actions.globus.org/transfer/run');
  }
  const ok = url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
  if (!ok || !url.hostname) throw invalid('it must use https (plain http only to a loopback address)');
  if (url.username || url.password) throw invalid('credentials do not belong in the URL; use --scope');
  return url.toString();
}

/** Top-level keys an Action Provider run request may have besides `request_id` (action_request.schema.json). */
const RUN_REQUEST_KEYS = new Set(['body', 'label', 'monitor_by', 'manage_by', 'allowed_clients', 'deadline', 'release_after']);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deepest nesting of objects and arrays an action body may have (see util/json-depth.ts). */
export const MAX_ACTION_BODY_DEPTH = MAX_JSON_DEPTH;

/**
 * The largest job body (its action body as JSON, UTF-8): 1 MiB. A job.list page always holds
 * at least one job, so one job document must fit a frame (contract/protocol.ts MAX_FRAME_BYTES).
 */
export const MAX_ACTION_BODY_BYTES = 1 << 20;

/**
 * The action body is the provider's run request without `request_id`: an object with a
 * `body` object and only the other keys that request allows.
 */
export function checkActionBody(value: unknown): Record<string, unknown> {
  if (!isPlainObject(value) || !isPlainObject(value.body)) {
    throw new InvalidInputError('the action body must be a JSON object with a "body" object, e.g. {"body": {...}}');
  }
  if (nestsDeeperThan(value, MAX_ACTION_BODY_DEPTH)) {
    throw new InvalidInputError(`the action body nests objects or arrays more than ${MAX_ACTION_BODY_DEPTH} levels deep`);
  }
  const bodyBytes = jsonBytes(value); // after the depth check: stringify would overflow the stack first
  if (bodyBytes > MAX_ACTION_BODY_BYTES) {
    throw new InvalidInputError(`the action body is ${sizeWithBytes(bodyBytes)}; the largest a job may have is ${sizeWithBytes(MAX_ACTION_BODY_BYTES)}`);
  }
  const extra = Object.keys(value).filter((k) => !RUN_REQUEST_KEYS.has(k));
  if (extra.length > 0) {
    throw new InvalidInputError(
      `the action body has key(s) ${extra.map((k) => JSON.stringify(k)).join(', ')} that a run request does not allow; allowed: ${[...RUN_REQUEST_KEYS].join(', ')}`,
    );
  }
  // The values too, by the Action Provider schema (label length, deadline, release_after,
  // principal lists): the provider would refuse them only at the first run.
  const problem = runRequestProblem(value);
  if (problem) throw new InvalidInputError(`invalid action body: ${problem}`);
  return value;
}

/** Parse `--action-body` text: surrounding quotes are stripped, as the original CLI did. */
export function parseActionBody(text: string, flag = '--action-body'): Record<string, unknown> {
  let raw = text.trim();
  if (raw.length >= 2 && (raw[0] === "'" || raw[0] === '"') && raw.at(-1) === raw[0]) {
    raw = raw.slice(1, -1);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new InvalidInputError(`${flag} must parse into valid JSON; got error: ${(err as Error).message}`);
  }
  return checkActionBody(parsed);
}

/** Job names are shown in every listing: no control characters or bidi overrides (util/printable.ts). */
export function checkName(name: string): string {
  const trimmed = name.trim();
  if (!trimmed || trimmed.length > 255 || hasUnsafeChars(trimmed)) {
    throw new InvalidInputError('invalid job name: give 1 to 255 printable characters (no control characters or bidirectional overrides)');
  }
  return trimmed;
}

/** How the daemon names the stop date in its messages (the CLI names its flag). */
export const STOP_DATE = 'stop-after date';

/**
 * A stop date must leave the job a slot (issue 12 item 3): one at or before now, or at or
 * before the start, makes a job that never runs, so it is refused, naming both times. The
 * daemon applies it at submit and update with its own clock, and at submit also to the
 * job's first slot (known only there); the CLI applies what it knows, so the answer comes
 * before any RPC. A null time: not known here (job update without --start).
 */
export function checkStopAfterDate(
  what: string,
  stopAtMs: number,
  { startAtMs, nowMs, firstSlotAtMs = null }: { startAtMs: number | null; nowMs: number | null; firstSlotAtMs?: number | null },
): number {
  const refuse = (why: string, atMs: number) =>
    new InvalidInputError(`invalid ${what} ${formatIso(stopAtMs)}: it is ${why} (${formatIso(atMs)}), so the job would never run`);
  if (nowMs !== null && stopAtMs <= nowMs) throw refuse('not after now', nowMs);
  if (startAtMs !== null && stopAtMs <= startAtMs) throw refuse('not after the start', startAtMs);
  if (firstSlotAtMs !== null && stopAtMs < firstSlotAtMs) throw refuse("before the job's first slot", firstSlotAtMs);
  return stopAtMs;
}

export function checkStopAfterRuns(n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new InvalidInputError(`invalid stop-after-runs ${JSON.stringify(n)}: give a whole number of runs, at least 1`);
  }
  return n;
}

/** A run state, as `job history --status` takes it (any case, spaces around). */
export function checkRunState(text: string): RunState {
  const state = text.trim().toLowerCase();
  if (!isRunState(state)) throw new InvalidInputError(`invalid status ${JSON.stringify(text)}: use one of ${RUN_STATES.join(', ')}`);
  return state;
}

function isRunState(text: string): text is RunState {
  return (RUN_STATES as readonly string[]).includes(text);
}
