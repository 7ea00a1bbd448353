import fs from 'node:fs';
import type { Argv, CommandModule } from 'yargs';
import { InvalidInputError } from '../../../core/errors.ts';
import { checkName, checkStopAfterDate, checkStopAfterRuns, parseInterval } from '../../../core/input.ts';
import { formatIso, parseScheduleTime } from '../../../core/time.ts';
import { MISFIRE_POLICIES, OVERLAP_POLICIES } from '../../../core/vocabulary.ts';
import type { UpdateJobParams, UpdateJobResult } from '../../../contract/protocol.ts';
import { checkCron } from '../../../core/calendar.ts';
import type { GlobalArgs } from '../../context.ts';
import { oneJobCommand, type OneJobArgs } from '../../job-command.ts';
import { single, verbose, changedJobJson } from '../../options.ts';
import { actionBodyFromFlags, type ActionBodyFlags } from '../../action-body.ts';
import { jobRecord } from '../../output.ts';
import { displayTime } from '../../display-time.ts';
import { safe } from '../../../util/printable.ts';
import { clientTimezoneParam, timezoneFromFlag, type ScheduleFlags } from '../../schedule-flags.ts';
import { onFailureFromFlags, onFailureOptions, type OnFailureFlags } from '../../on-failure-flags.ts';

/** The flags of `job update` as yargs hands them over: the schedule flags, all optional, and the body. */
export interface UpdateFlags extends Partial<ScheduleFlags>, ActionBodyFlags, OnFailureFlags {
  job_id: string;
}

interface UpdateArgs extends OneJobArgs, UpdateFlags {
  verbose: boolean;
}

const NONE = /^\s*none\s*$/i;
/** `--timezone local`, or `none` as it was first spelled: the user's zone, resolved and stored. */
const LOCAL_ZONE = /^\s*(none|local)\s*$/i;

/**
 * Turn `job update` flags into RPC parameters; every rule that needs no job is checked
 * here, so a bad flag exits 2 before the daemon is asked (which checks them again).
 */
export function updateParamsFromFlags(
  flags: UpdateFlags,
  readFile: (path: string) => string = (p) => fs.readFileSync(p, 'utf8'),
  nowMs: number = Date.now(),
): UpdateJobParams {
  const params: UpdateJobParams = { job_id: flags.job_id };
  if (flags.name !== undefined) params.name = checkName(flags.name);
  if (flags.interval !== undefined && flags.cron !== undefined) throw new InvalidInputError('give either --interval or --cron, not both');
  if (flags.interval !== undefined) params.interval_seconds = parseInterval(flags.interval);
  if (flags.timezone !== undefined) params.timezone = timezoneFromFlag(flags.timezone, LOCAL_ZONE);
  if (flags.cron !== undefined) {
    params.cron = checkCron(flags.cron, params.timezone ?? null);
    // An interval job turned calendar without --timezone gets the user's zone (a calendar job keeps its own).
    if (params.timezone === undefined) Object.assign(params, clientTimezoneParam());
  }
  // Offset-less times are read in --timezone when given, else locally; HH:MM is the next such time.
  const zone = params.timezone ?? null;
  const startAtMs = flags.start !== undefined ? parseScheduleTime(flags.start, '--start', zone, nowMs) : null;
  if (startAtMs !== null) params.start = formatIso(startAtMs);

  const stopDate = flags['stop-after-date'];
  const stopRuns = flags['stop-after-runs'];
  if (stopDate !== undefined || stopRuns !== undefined) {
    params.stop_after = {};
    if (stopDate !== undefined && !NONE.test(stopDate)) {
      const stopAtMs = checkStopAfterDate('--stop-after-date', parseScheduleTime(stopDate, '--stop-after-date', zone, nowMs), { startAtMs, nowMs });
      params.stop_after.date = formatIso(stopAtMs);
    } else if (stopDate !== undefined) params.stop_after.date = null;
    if (stopRuns !== undefined) {
      if (NONE.test(stopRuns)) params.stop_after.n_runs = null;
      else if (!/^\s*\d+\s*$/.test(stopRuns))
        throw new InvalidInputError(`invalid --stop-after-runs "${stopRuns}": give a whole number of runs, at least 1, or none`);
      else params.stop_after.n_runs = checkStopAfterRuns(Number(stopRuns));
    }
  }

  const callbackBody = actionBodyFromFlags(flags, readFile);
  if (callbackBody !== undefined) params.callback_body = callbackBody;
  if (flags.overlap !== undefined || flags.misfire !== undefined) {
    params.policy = { ...(flags.overlap ? { overlap: flags.overlap } : {}), ...(flags.misfire ? { misfire: flags.misfire } : {}) };
  }
  Object.assign(params, onFailureFromFlags(flags));
  if (Object.keys(params).length === 1) {
    throw new InvalidInputError(
      'nothing to update: give at least one of --name, --interval, --cron, --timezone, --start, --stop-after-date, --stop-after-runs, --action-body, --action-file, --overlap, --misfire, --on-failure, --notify',
    );
  }
  return params;
}

/** What changed about the schedule, in one line (or none). */
function updateText({ job, reanchored }: UpdateJobResult): string {
  const record = jobRecord(job);
  if (!reanchored) return record;
  let line: string;
  if (job.next_run !== null) line = safe`Schedule re-anchored: next run at ${displayTime(job.next_run)}.`;
  else if (job.status === 'inactive') line = safe`Schedule re-anchored; the job stays paused: it runs again after globus-timer job resume ${job.job_id}.`;
  else line = safe`Schedule re-anchored: no further run (the job is ${job.status}).`;
  return `${line}\n\n${record}`;
}

/**
 * The flags of `job update` that take a value, as [flag, help, alias]: the schedule flags
 * of schedule-flags.ts, each optional and in words of a change, and the action body.
 */
const CHANGE_FLAGS = [
  ['name', 'New name'],
  ['interval', 'New interval ("1d", "2h 30m", seconds); re-anchors from the job\'s start'],
  ['cron', 'New cron expression (the job becomes a calendar job); re-anchors'],
  ['timezone', 'Zone of the cron expression and of an offset-less --start (local: your zone); re-anchors'],
  ['start', 'New anchor: YYYY-MM-DD[THH:MM:SS][offset], or HH:MM for the next such time; re-anchors', 'start-time'],
  ['stop-after-date', 'No runs after this time (none: no end date)'],
  ['stop-after-runs', 'Finish after this many scheduled runs (none: no limit)'],
  ['action-body', 'New action body, as JSON: {"body": {...}}'],
  ['action-file', 'Read the new action body from this JSON file'],
] as const;

/** `job update JOB_ID [flags]`: a change from the job's next run on. */
export const updateCommand: CommandModule<GlobalArgs, UpdateArgs> = oneJobCommand({
  command: 'update <job_id>',
  describe: 'Change a job from its next run on (a run in progress is untouched)',
  jobIdDescribe: 'The job to change',
  options: (y): Argv<UpdateArgs> => {
    let b = y;
    for (const [flag, describe, alias] of CHANGE_FLAGS) b = b.option(flag, { ...single(flag), ...(alias ? { alias } : {}), type: 'string', describe });
    return onFailureOptions(b)
      .option('overlap', { ...single('overlap'), choices: OVERLAP_POLICIES, describe: 'While the previous run is in progress: skip the slot or allow' })
      .option('misfire', {
        ...single('misfire'),
        choices: MISFIRE_POLICIES,
        describe: 'Missed slots: one catch-up run (coalesce) or wait for the next slot (skip)',
      })
      .option('verbose', verbose);
  },
  request: (args) => updateParamsFromFlags(args),
  call: (c, request) => c.call('job.update', request),
  print: (result, args) => changedJobJson(args, result) ?? updateText(result),
});
