import type { Argv, CommandModule } from 'yargs';
import { InvalidInputError } from '../../../core/errors.ts';
import type { NextSlotsResult } from '../../../contract/protocol.ts';
import type { GlobalArgs } from '../../context.ts';
import { oneJobCommand, type OneJobArgs } from '../../job-command.ts';
import { single, wantsJson } from '../../options.ts';
import { toJson } from '../../output.ts';
import { displayTime } from '../../display-time.ts';
import { printable, safe } from '../../../util/printable.ts';

const MAX_NEXT_COUNT = 100;

interface NextArgs extends OneJobArgs {
  n?: string | undefined;
}

/** `-n N`: 1 to 100 (default 5). */
export function parseCount(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_NEXT_COUNT) {
    throw new InvalidInputError(`invalid -n ${JSON.stringify(text)}: give a whole number of slots from 1 to ${MAX_NEXT_COUNT}`);
  }
  return n;
}

/** One slot a line, then the note (why fewer or none), if any. */
export function nextText({ slots, note }: NextSlotsResult): string {
  const lines = slots.map((slot) => printable(displayTime(slot)));
  if (note) lines.push(slots.length ? safe`(${note})` : safe`No upcoming runs: ${note}.`);
  return lines.join('\n');
}

/** `job next JOB_ID [-n N]`: the next slots, as the daemon computes them. */
export const nextCommand: CommandModule<GlobalArgs, NextArgs> = oneJobCommand({
  command: 'next <job_id>',
  describe: 'Show when a job runs next, as the daemon will fire it',
  jobIdDescribe: 'The job',
  options: (y): Argv<NextArgs> =>
    y.option('n', { ...single('n'), alias: 'count', type: 'string', describe: `How many runs to show (1-${MAX_NEXT_COUNT}, default 5)` }),
  request: (args) => {
    const count = parseCount(args.n);
    return count !== undefined ? { count } : {};
  },
  call: (c, request) => c.call('job.next', request),
  print: (result, args) => (wantsJson(args) ? toJson(result) : nextText(result)),
});
