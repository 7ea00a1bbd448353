import type { CommandModule } from 'yargs';
import { resolvePaths } from '../../../config/paths.ts';
import { InvalidInputError } from '../../../core/errors.ts';
import type { GlobalArgs } from '../../context.ts';
import { single } from '../../options.ts';
import { toJson } from '../../output.ts';

const DEFAULT_LOG_LINES = 50;

interface LogsArgs extends GlobalArgs {
  follow: boolean;
  lines?: string | undefined;
}

/** `daemon logs -n`: a whole number of lines, 0 or more; anything else (`abc`, `-1`, `1.5`) is a usage error. */
function lineCount(text: string): number {
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new InvalidInputError(`invalid -n ${JSON.stringify(text)}: give a whole number of lines, 0 or more`);
  }
  return Number(text);
}

/** A pino line as its object; anything else (output before logging started) as the string. */
function logEntry(line: string): unknown {
  try {
    return JSON.parse(line) as unknown;
  } catch {
    return line;
  }
}

/** `daemon logs [-n N] [-f]`: the detached daemon's log files (logs.ts), pretty on a terminal. */
export const logsCommand: CommandModule<GlobalArgs, LogsArgs> = {
  command: 'logs',
  describe: "Show the detached daemon's log, readably",
  builder: (y) =>
    y.option('follow', { alias: 'f', type: 'boolean', default: false, describe: 'Keep printing new lines (Ctrl-C stops)' }).option('lines', {
      ...single('lines'),
      alias: 'n',
      type: 'string',
      requiresArg: true,
      describe: `How many of the last lines to show (default ${DEFAULT_LOG_LINES}; 0: none)`,
    }),
  handler: async (args) => {
    const { io } = args;
    const wanted = args.lines === undefined ? DEFAULT_LOG_LINES : lineCount(args.lines);
    const { follow, lineFormatter, tailLines } = await import('../../logs.ts'); // pino-pretty: only here
    const { logDir } = resolvePaths(io.env);
    const lines = tailLines(logDir, wanted);
    // --format json without -f: one JSON document, the array of log entries (a line
    // that is not JSON becomes a string). With -f it is a stream: one entry per line.
    if (args.format === 'json' && !args.follow) return io.out(toJson(lines.map(logEntry)));
    // JSON with -f: each line as one compact JSON document, escaped as toJson does.
    const format = args.format === 'json' ? (line: string) => toJson(logEntry(line), 0) : lineFormatter(process.stdout.isTTY === true);
    // Zero lines asked for is nothing to print, not a missing log.
    if (lines.length === 0 && !args.follow && wanted > 0) {
      return io.out(`no daemon log in ${logDir}; a daemon run in the foreground or by systemd logs to stderr (journalctl --user -u globus-timer)`);
    }
    for (const line of lines) io.out(format(line));
    if (args.follow) {
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      await follow(logDir, (line) => io.out(format(line)), stop.signal);
    }
  },
};
