/**
 * Calendar schedules (SPEC §2 rule 10): the slots of a calendar job are the occurrences of
 * its cron expression at or after its start, read in its time zone (null: the daemon's
 * local zone), computed with croner. Pure apart from a cache of parsed expressions.
 *
 * DST, as croner computes it (fixedTimeRule "no-wildcard", as Vixie cron) and as the
 * scheduler therefore fires:
 * - Fixed times of day (no `*` and no step in the seconds, minutes and hours fields:
 *   `30 2 * * *`, also lists and ranges such as `30 2,14 * * *`): a time in a skipped hour
 *   (spring forward) still runs once that night, at the first valid time after the gap
 *   (02:30 in Europe/Berlin on the last Sunday of March runs at 03:00 CEST); a time in a
 *   repeated hour (fall back) runs once, at the first of the two instants (02:30 CEST, not
 *   again at 02:30 CET).
 * - An expression with a wildcard or step in those fields (`30 * * * *`, `*\/15 * * * *`)
 *   follows real elapsed time: a local time that does not exist is skipped and one that
 *   occurs twice runs twice (an hourly job runs every 60 minutes, 24 or 23 or 25 a day).
 */

import { createRequire } from 'node:module';
import type { Cron } from 'croner';
import { InvalidInputError } from './errors.ts';

type CronClass = typeof import('croner').Cron;
let cronClass: CronClass | undefined;

/**
 * croner, loaded on first use: the CLI imports this file for its flag checks, and most
 * commands (job list, status…) never need a cron expression.
 */
function CronOf(): CronClass {
  return (cronClass ??= (createRequire(import.meta.url)('croner') as typeof import('croner')).Cron);
}

const MAX_CACHED = 1024;
const cache = new Map<string, Cron>();

function cronOptions(timezone: string | null) {
  return { paused: true, fixedTimeRule: 'no-wildcard', ...(timezone === null ? {} : { timezone }) } as const;
}

/** A parsed expression, shared by every job with the same (expression, zone). */
export function cronFor(expr: string, timezone: string | null): Cron {
  const key = timezone === null ? expr : `${timezone}\n${expr}`;
  let cron = cache.get(key);
  if (cron === undefined) {
    const Cron = CronOf();
    cron = new Cron(expr, cronOptions(timezone));
    if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
    cache.set(key, cron);
  }
  return cron;
}

/** The first occurrence strictly after `atMs`, or null when there is none. */
export function occurrenceAfter(cron: Cron, atMs: number): number | null {
  const next = cron.nextRun(new Date(atMs));
  return next === null ? null : next.getTime();
}

/** The first occurrence at or after `atMs`, or null. */
function occurrenceAtOrAfter(cron: Cron, atMs: number): number | null {
  return occurrenceAfter(cron, atMs - 1);
}

/** The latest occurrence at or before `atMs`, or null. */
export function occurrenceAtOrBefore(cron: Cron, atMs: number): number | null {
  // previousRuns includes a run earlier in the same second as the reference, so +1 ms
  // makes an occurrence exactly at `atMs` count, and one at `atMs + 1` never does (occurrences
  // are whole seconds).
  const [prev] = cron.previousRuns(1, new Date(atMs + 1));
  return prev === undefined ? null : prev.getTime();
}

/**
 * At most this many occurrences are stepped through one by one when a calendar job missed
 * slots (each step is a croner search, some tens of microseconds); beyond it the latest
 * occurrence is found directly and the rest are counted from their mean spacing.
 */
export const MAX_COUNTED_OCCURRENCES = 64;

export interface LatestOccurrence {
  /** The latest occurrence at or before the limit (`fromMs` itself when no later one is). */
  atMs: number;
  /** Occurrences from `fromMs` (included) to `atMs` (excluded): exact up to the cap, estimated beyond. */
  passed: number;
  /**
   * The first occurrence after `atMs` when it is already known (found past the limit),
   * undefined when not looked up, null when there is none.
   */
  after: number | null | undefined;
}

/**
 * The latest occurrence at or before `limitMs`, counting the ones passed over. `fromMs` is
 * an occurrence at or before `limitMs`. The work is bounded (MAX_COUNTED_OCCURRENCES).
 */
export function latestOccurrence(cron: Cron, fromMs: number, limitMs: number): LatestOccurrence {
  let atMs = fromMs;
  let passed = 0;
  for (let i = 0; i < MAX_COUNTED_OCCURRENCES; i++) {
    const next = occurrenceAfter(cron, atMs);
    if (next === null || next > limitMs) return { atMs, passed, after: next };
    atMs = next;
    passed += 1;
  }
  const latest = occurrenceAtOrBefore(cron, limitMs);
  if (latest === null || latest <= atMs) return { atMs, passed, after: undefined };
  const meanSpacingMs = (atMs - fromMs) / passed;
  return { atMs: latest, passed: passed + Math.max(1, Math.round((latest - atMs) / meanSpacingMs)), after: undefined };
}

/**
 * Where a calendar job starts: the first occurrence at or after `startAtMs`; when that is
 * already past (a start in the past), the latest occurrence up to now if it is at most
 * `graceMs` old (as for interval jobs), else the first one after now. Null: never occurs.
 */
export function initialOccurrence(cron: Cron, startAtMs: number, nowMs: number, graceMs: number): number | null {
  const first = occurrenceAtOrAfter(cron, startAtMs);
  if (first === null || first > nowMs) return first;
  const latest = latestOccurrence(cron, first, nowMs).atMs;
  return nowMs - latest <= graceMs ? latest : occurrenceAfter(cron, nowMs);
}

const MAX_CRON_LENGTH = 200;

/**
 * An IANA zone name as the user typed it, checked and canonicalised (`europe/berlin` →
 * `Europe/Berlin`). Shared by the CLI and the daemon.
 */
export function checkTimezone(text: string): string {
  const name = text.trim();
  let canonical: string | undefined;
  try {
    if (name) canonical = new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    // reported below
  }
  if (!canonical) {
    throw new InvalidInputError(`unknown time zone ${JSON.stringify(text)}: give an IANA zone name such as Europe/Berlin, America/New_York or UTC`);
  }
  return canonical;
}

/**
 * A cron expression (5 fields `min hour day month weekday`, or 6 with seconds first),
 * checked the way the daemon will read it: it must parse and occur at least once more.
 */
export function checkCron(text: string, timezone: string | null): string {
  const expr = text.trim().replace(/\s+/g, ' ');
  if (!expr || expr.length > MAX_CRON_LENGTH || /[\u0000-\u001f]/.test(expr)) {
    throw new InvalidInputError(`invalid cron expression ${JSON.stringify(text)}: give 5 fields (minute hour day month weekday), e.g. "0 2 * * *"`);
  }
  const fields = expr.split(' ').length;
  // Nicknames (@daily, @hourly…) are one field; croner would also take 7 (a year), which cron does not.
  if (!expr.startsWith('@') && fields !== 5 && fields !== 6) {
    throw new InvalidInputError(
      `invalid cron expression ${JSON.stringify(text)}: give 5 fields (minute hour day month weekday), or 6 with seconds first; it has ${fields}`,
    );
  }
  let next: Date | null;
  try {
    const Cron = CronOf();
    next = new Cron(expr, cronOptions(timezone)).nextRun();
  } catch (err) {
    const why = (err as Error).message.replace(/^CronPattern:\s*/, '').replace(/\s*\n\s*/g, ' ');
    throw new InvalidInputError(`invalid cron expression ${JSON.stringify(text)}: ${why}`);
  }
  if (next === null) throw new InvalidInputError(`cron expression ${JSON.stringify(text)} never occurs (no date matches it)`);
  return expr;
}

/** Kept here too for the callers that format a calendar job's slots (next.ts, tests). */
export { formatIsoInZone } from './time.ts';
