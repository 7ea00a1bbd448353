import type { Argv } from 'yargs';
import { InvalidInputError } from '../../core/errors.ts';
import type { NextSlotsResult } from '../../contract/protocol.ts';
import { withDaemon, type CliIo, type GlobalArgs } from '../context.ts';
import { checkJobIdArg, resolveJobId } from '../job-ids.ts';
import { single, wantsJson } from '../options.ts';
import { toJson } from '../output.ts';
import { displayTime } from '../display-time.ts';
import { printable, safe } from '../../util/printable.ts';

export const MAX_NEXT_COUNT = 100;

interface NextArgs extends GlobalArgs {
  job_id: string;
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

/** `job next JOB_ID [-n N]`, as `[command, describe, builder, handler]` for yargs' `.command(...)`. */
export function nextCommand(io: CliIo) {
  return [
    'next <job_id>',
    'Show when a job runs next, as the daemon will fire it',
    (b: Argv<GlobalArgs>) =>
      b
        .positional('job_id', { type: 'string', demandOption: true, describe: 'The job' })
        .option('n', { ...single('n'), alias: 'count', type: 'string', describe: `How many runs to show (1-${MAX_NEXT_COUNT}, default 5)` }),
    async (args: NextArgs) => {
      const typed = checkJobIdArg(args.job_id);
      const count = parseCount(args.n);
      const result = await withDaemon(io, args, async (c) => c.call('job.next', { job_id: await resolveJobId(c, typed), ...(count !== undefined ? { count } : {}) }));
      io.out(wantsJson(args) ? toJson(result) : nextText(result));
    },
  ] as const;
}
