import { InvalidInputError } from '../errors.ts';

/**
 * Start and stop times as users type them (SPEC §5): `YYYY-MM-DD` or
 * `YYYY-MM-DD[T| ]HH:MM:SS[.fff]`, each with an optional offset `Z`, `+HH:MM` or `+HHMM`.
 * No offset means local time, as in the original CLI. Anything else is rejected whole.
 */
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?)?(?:(Z)|([+-])(\d{2}):?(\d{2}))?$/i;

export function parseDateTime(text: string, what = 'time'): number {
  const m = DATE_TIME.exec(text.trim());
  const fail = (why: string) =>
    new InvalidInputError(
      `invalid ${what} "${text}": ${why}; use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS, optionally with an offset like Z or +02:00`,
    );
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

  if (zulu || sign) {
    const offsetMinutes = zulu ? 0 : (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om));
    if (Number(oh) > 23 || Number(om) > 59) throw fail('offset out of range');
    return Date.UTC(year, month - 1, day, hour, minute, second, ms) - offsetMinutes * 60_000;
  }
  const local = new Date(year, month - 1, day, hour, minute, second, ms);
  // A local time inside a DST gap does not exist; Date would silently move it.
  if (local.getHours() !== hour || local.getMinutes() !== minute || local.getDate() !== day) {
    throw fail('that local time does not exist (daylight-saving change)');
  }
  return local.getTime();
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
  const d = new Date(ms);
  const frac = d.getUTCMilliseconds() ? `.${pad(d.getUTCMilliseconds(), 3)}` : '';
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` +
    `T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${frac}+00:00`
  );
}

export function formatIsoOrNull(ms: number | null): string | null {
  return ms === null ? null : formatIso(ms);
}
