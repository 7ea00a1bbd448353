import { InvalidInputError } from '../core/errors.ts';
import { formatIsoInZone, localTimezone } from '../core/time.ts';
import { checkTimezone } from '../core/calendar.ts';

/**
 * The zone times are shown in by text output (issue 12 item 11): `--tz utc|local|<IANA
 * zone>`, else GLOBUS_TIMER_TZ, else the times as the daemon wrote them (UTC `+00:00`, a
 * calendar job's next slots in its own zone), byte for byte what earlier versions printed.
 * Always ISO-8601 with the offset (`2026-12-07T02:00:00+01:00`), so a time copied from the
 * output is one `--start` takes back. JSON output never changes: it stays the job document.
 *
 * One setting per command line, chosen before any handler runs (main.ts middleware), as a
 * locale is: every record, table and line that shows a time reads it here, instead of each
 * command passing it down to every jobRecord call.
 */
let shown: { zone: string | null } | null = null;

export const DISPLAY_TZ_ENV = 'GLOBUS_TIMER_TZ';

/** `utc`, `local` or an IANA zone; null: neither the flag nor the variable is set. */
export function displayZoneFrom(flag: string | undefined, env: NodeJS.ProcessEnv): { zone: string | null } | null {
  const [text, source] = flag !== undefined ? [flag, '--tz'] : [env[DISPLAY_TZ_ENV], DISPLAY_TZ_ENV];
  // An empty variable is an unset one, as shells have it; an empty --tz is refused below.
  if (text === undefined || (flag === undefined && text.trim() === '')) return null;
  if (/^\s*local\s*$/i.test(text)) return { zone: localTimezone() };
  try {
    return { zone: checkTimezone(text) };
  } catch {
    throw new InvalidInputError(`invalid ${source} ${JSON.stringify(text)}: give utc, local or an IANA zone name such as Europe/Berlin`);
  }
}

export function setDisplayZone(zone: { zone: string | null } | null): void {
  shown = zone;
}

/** An ISO time from the daemon, in the chosen zone (unchanged when none was chosen, or when it is not a time). */
export function displayTime(iso: string): string {
  const ms = Date.parse(iso);
  return shown === null || Number.isNaN(ms) ? iso : formatIsoInZone(ms, shown.zone);
}

export function displayTimeOrNull(iso: string | null): string | null {
  return iso === null ? null : displayTime(iso);
}
