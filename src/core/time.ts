import { InvalidInputError } from './errors.ts';

/**
 * Start and stop times as users type them (SPEC §5): `YYYY-MM-DD` or
 * `YYYY-MM-DD[T| ]HH:MM:SS[.fff]`, each with an optional offset `Z`, `+HH:MM` or `+HHMM`.
 * No offset means local time, as in the original CLI, or the time in `timezone` when one is
 * given (`--start` with `--timezone`). Anything else is rejected whole.
 */
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?)?(?:(Z)|([+-])(\d{2}):?(\d{2}))?$/i;

const FORMATS_HINT = 'use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS, optionally with an offset like Z or +02:00';

function invalidTime(what: string, text: string, why: string, hint = FORMATS_HINT): InvalidInputError {
  return new InvalidInputError(`invalid ${what} "${text}": ${why}; ${hint}`);
}

/** `timezone`: the IANA zone an offset-less time is read in; null or absent: the local zone. */
export function parseDateTime(text: string, what = 'time', timezone: string | null = null): number {
  const m = DATE_TIME.exec(text.trim());
  const fail = (why: string) => invalidTime(what, text, why);
  if (!m) throw fail('not a recognised format');
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '0', zulu, sign, oh, om] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  const ms = Math.floor(Number(`0.${frac}`) * 1000);
  if (month < 1 || month > 12) throw fail('month out of range');
  if (day < 1 || day > daysInMonth(year, month)) throw fail('day out of range');
  if (hour > 23 || minute > 59 || second > 59) throw fail('time of day out of range');

  const wallMs = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  if (zulu || sign) {
    const offsetMinutes = zulu ? 0 : (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om));
    if (Number(oh) > 23 || Number(om) > 59) throw fail('offset out of range');
    return wallMs - offsetMinutes * 60_000;
  }
  // A wall time inside a DST gap does not exist; Date would silently move it.
  const [first] = instantsOfWallTime(wallMs, timezone);
  if (first === undefined) throw fail(`that ${timezone === null ? 'local' : timezone} time does not exist (daylight-saving change)`);
  return first;
}

const TIME_OF_DAY = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/;

/** How many days ahead a time of day is looked for: DST gaps are an hour, so the next day always has it. */
const TIME_OF_DAY_SEARCH_DAYS = 3;

/**
 * `--start` and `--stop-after-date` (issue 12 item 11): a time of day alone (`02:00`,
 * `02:00:00`) is the next such time in `timezone` (null: local) at or after `nowMs`, never
 * a past one, so an example such as `--start 02:00` never goes stale; a day on which that
 * time does not exist (a DST gap) is skipped. Anything else is a date as parseDateTime reads it.
 */
export function parseScheduleTime(text: string, what: string, timezone: string | null, nowMs: number): number {
  const m = TIME_OF_DAY.exec(text.trim());
  if (!m) return parseDateTime(text, what, timezone);
  const [hour, minute, second] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
  if (hour > 23 || minute > 59 || second > 59)
    throw invalidTime(what, text, 'time of day out of range', 'use HH:MM or HH:MM:SS for the next such time, or a date');
  const today = new Date(nowMs + zoneOffsetMinutes(nowMs, timezone) * 60_000);
  for (let day = 0; day < TIME_OF_DAY_SEARCH_DAYS; day++) {
    const wallMs = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() + day, hour, minute, second);
    const next = instantsOfWallTime(wallMs, timezone).find((atMs) => atMs >= nowMs);
    if (next !== undefined) return next;
  }
  throw invalidTime(what, text, 'that time of day does not occur in the next days', 'give a date');
}

/**
 * The instants at which clocks in `timezone` (null: local) show `wallMs` (a wall time
 * written as if it were UTC), earliest first: none in a DST gap, two in a repeated hour.
 * The offsets a day either side cover every transition (none is more than a day long).
 */
function instantsOfWallTime(wallMs: number, timezone: string | null): number[] {
  const offsets = new Set([-86_400_000, 0, 86_400_000].map((d) => zoneOffsetMinutes(wallMs + d, timezone)));
  const instants = [...offsets].map((offset) => wallMs - offset * 60_000).filter((atMs) => zoneOffsetMinutes(atMs, timezone) * 60_000 === wallMs - atMs);
  return [...new Set(instants)].sort((a, b) => a - b);
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/**
 * ISO-8601 in UTC with an explicit `+00:00` offset, as the hosted Timers service writes
 * times (`2022-04-11T19:30:00+00:00`); milliseconds only when there are some.
 */
export function formatIso(ms: number): string {
  return formatIsoInZone(ms, 'UTC');
}

export function formatIsoOrNull(ms: number | null): string | null {
  return ms === null ? null : formatIso(ms);
}

/**
 * An instant as ISO-8601 with the offset of `timezone` (null: the local zone), e.g.
 * `2026-03-29T03:00:00+02:00`: a calendar job's slots, and times shown with `--tz`.
 */
export function formatIsoInZone(ms: number, timezone: string | null): string {
  const offset = zoneOffsetMinutes(ms, timezone);
  const d = new Date(ms + offset * 60_000);
  const frac = d.getUTCMilliseconds() ? `.${pad(d.getUTCMilliseconds(), 3)}` : '';
  const abs = Math.abs(offset);
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` +
    `T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${frac}` +
    `${offset < 0 ? '-' : '+'}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
  );
}

/**
 * The zone's offset from UTC at `ms`, in minutes (east positive). The local zone is read
 * from Date on every call, so a TZ changed at run time (tests) is followed; named zones
 * come from Intl, one formatter per zone.
 */
function zoneOffsetMinutes(ms: number, timezone: string | null): number {
  if (timezone === null) return -new Date(ms).getTimezoneOffset();
  if (timezone === 'UTC') return 0;
  const parts = zoneFormatter(timezone).formatToParts(new Date(ms));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const wallMs = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour') % 24, get('minute'), get('second'));
  return Math.round((wallMs - (ms - mod(ms, 1000))) / 60_000);
}

function mod(n: number, m: number): number {
  return ((n % m) + m) % m;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function zoneFormatter(timezone: string): Intl.DateTimeFormat {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timezone, f);
  }
  return f;
}

/**
 * This process's IANA zone, as Intl resolves it (TZ, else the system's); null when it has
 * no IANA name a job could store.
 */
export function localTimezone(): string | null {
  const zone = new Intl.DateTimeFormat().resolvedOptions().timeZone;
  return zone && zone !== 'Etc/Unknown' ? zone : null;
}
