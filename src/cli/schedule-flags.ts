import type { Argv } from 'yargs';
import { InvalidInputError } from '../core/errors.ts';
import { checkName, checkStopAfterDate, checkStopAfterRuns, parseInterval } from '../core/input.ts';
import { formatIso, localTimezone, parseScheduleTime } from '../core/time.ts';
import type { SubmitJobParams } from '../contract/protocol.ts';
import { checkCron, checkTimezone } from '../core/calendar.ts';
import { single } from './options.ts';
import { MISFIRE_POLICIES, OVERLAP_POLICIES, type MisfirePolicy, type OverlapPolicy } from '../core/vocabulary.ts';

/**
 * The schedule flags every job-creating command shares (`job submit`, `job transfer`):
 * their yargs options and their one translation into RPC parameters.
 */
export interface ScheduleFlags {
  name: string;
  interval?: string | undefined;
  cron?: string | undefined;
  timezone?: string | undefined;
  start?: string | undefined;
  'stop-after-date'?: string | undefined;
  'stop-after-runs'?: string | undefined;
  overlap?: OverlapPolicy | undefined;
  misfire?: MisfirePolicy | undefined;
}

export function scheduleOptions<T>(b: Argv<T>) {
  return b
    .option('name', { ...single('name'), type: 'string', demandOption: true, describe: 'Name for the job' })
    .option('interval', {
      ...single('interval'),
      type: 'string',
      describe: 'Time between runs: "1w 2d 3h 4m 5s" (any subset, in that order) or seconds (or --cron)',
    })
    .option('cron', {
      ...single('cron'),
      type: 'string',
      describe: 'Run at the times of a cron expression instead, e.g. "0 2 * * *" (02:00 daily); DST-correct',
    })
    .option('timezone', {
      ...single('timezone'),
      type: 'string',
      describe: 'IANA zone the --cron expression (and an offset-less --start) is read in, e.g. Europe/Berlin (default: local, your zone; stored with the job)',
    })
    .option('start', {
      ...single('start'),
      alias: 'start-time',
      type: 'string',
      describe: 'First run: YYYY-MM-DD[THH:MM:SS][offset], or HH:MM for the next such time; no offset = local time, or --timezone (default: now)',
    })
    .option('stop-after-date', {
      ...single('stop-after-date'),
      type: 'string',
      describe: 'No runs after this time (same forms as --start); must be after now and after the start',
    })
    .option('stop-after-runs', { ...single('stop-after-runs'), type: 'string', describe: 'Finish after this many runs' })
    .option('overlap', { ...single('overlap'), choices: OVERLAP_POLICIES, describe: 'While the previous run is in progress: skip the slot (default) or allow' })
    .option('misfire', {
      ...single('misfire'),
      choices: MISFIRE_POLICIES,
      describe: 'Missed slots: one catch-up run (coalesce, default) or wait for the next slot (skip)',
    });
}

export type ScheduleParams = Pick<SubmitJobParams, 'name' | 'start' | 'interval_seconds' | 'cron' | 'timezone' | 'client_timezone' | 'stop_after' | 'policy'>;

/** `--timezone local` (job update: also `none`, its old spelling): the user's own zone, resolved now; else an IANA zone. */
export function timezoneFromFlag(text: string, localWords: RegExp = /^\s*local\s*$/i): string {
  if (!localWords.test(text)) return checkTimezone(text);
  const zone = localTimezone();
  if (zone === null) throw new InvalidInputError('this system names no IANA time zone (check TZ); give --timezone ZONE, e.g. Europe/Berlin');
  return zone;
}

/**
 * What a calendar job given no --timezone is stored with (issue 12 item 10): the user's
 * own zone, which `0 2 * * *` and an offset-less --start mean, sent for the daemon to store
 * (it falls back to its own). Stored once, so a daemon restarted under another TZ keeps it.
 */
export function clientTimezoneParam(): Pick<ScheduleParams, 'client_timezone'> {
  const zone = localTimezone();
  return zone === null ? {} : { client_timezone: zone };
}

/** Exactly one of --interval and --cron; --timezone only with --cron. */
function scheduleKindFromFlags(flags: ScheduleFlags): Pick<ScheduleParams, 'interval_seconds' | 'cron' | 'timezone' | 'client_timezone'> {
  if (flags.interval !== undefined && flags.cron !== undefined) throw new InvalidInputError('give either --interval or --cron, not both');
  if (flags.interval === undefined && flags.cron === undefined) {
    throw new InvalidInputError('give the schedule: --interval (e.g. "1h") or --cron (e.g. "0 2 * * *")');
  }
  if (flags.interval !== undefined) {
    if (flags.timezone !== undefined) throw new InvalidInputError('--timezone applies only to --cron');
    return { interval_seconds: parseInterval(flags.interval) };
  }
  const timezone = flags.timezone !== undefined ? timezoneFromFlag(flags.timezone) : null;
  return { cron: checkCron(flags.cron!, timezone), timezone, ...(timezone === null ? clientTimezoneParam() : {}) };
}

/** Every rule is checked here, so a bad flag exits 2 before the daemon is asked; the daemon checks again. */
export function scheduleParamsFromFlags(flags: ScheduleFlags, nowMs: number = Date.now()): ScheduleParams {
  const stopRuns = flags['stop-after-runs'];
  if (stopRuns !== undefined && !/^\s*\d+\s*$/.test(stopRuns)) {
    throw new InvalidInputError(`invalid --stop-after-runs "${stopRuns}": give a whole number of runs, at least 1`);
  }
  const kind = scheduleKindFromFlags(flags);
  // Times without an offset are read in --timezone when given, else in the local zone;
  // a time of day alone is the next such time (time.ts parseScheduleTime).
  const zone = kind.timezone ?? null;
  const startAtMs = flags.start !== undefined ? parseScheduleTime(flags.start, '--start', zone, nowMs) : null;
  const stopText = flags['stop-after-date'];
  const stopAtMs = stopText !== undefined ? parseScheduleTime(stopText, '--stop-after-date', zone, nowMs) : null;
  if (stopAtMs !== null) checkStopAfterDate('--stop-after-date', stopAtMs, { startAtMs, nowMs });
  const stopAfter = {
    date: stopAtMs !== null ? formatIso(stopAtMs) : null,
    n_runs: stopRuns !== undefined ? checkStopAfterRuns(Number(stopRuns)) : null,
  };
  return {
    name: checkName(flags.name),
    start: startAtMs !== null ? formatIso(startAtMs) : null,
    ...kind,
    stop_after: stopAfter.date !== null || stopAfter.n_runs !== null ? stopAfter : null,
    policy: { ...(flags.overlap ? { overlap: flags.overlap } : {}), ...(flags.misfire ? { misfire: flags.misfire } : {}) },
  };
}
