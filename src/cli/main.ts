import { pathToFileURL } from 'node:url';
import yargs, { type MiddlewareFunction } from 'yargs';
import { ERROR_CODES, InvalidInputError, ReportedError, TimerError } from '../errors.ts';
import { VERSION } from '../package-root.ts';
import { daemonCommands } from './commands/daemon.ts';
import { jobCommands } from './commands/job.ts';
import { sessionCommands } from './commands/session.ts';
import { processIo, type CliIo } from './context.ts';
import { flagValueProblem, type OptionTypes } from './flag-values.ts';
import { errorLine } from './output.ts';

/** Exit codes (SPEC §5): 0 success, 1 runtime error, 2 usage error. */
export const EXIT = { OK: 0, RUNTIME: 1, USAGE: 2 } as const;

/**
 * Parse and run one command line; returns the exit code. Never calls process.exit, so
 * tests run it in-process.
 */
export async function runCli(argv: string[], io: CliIo = processIo): Promise<number> {
  let exitCode: number = EXIT.OK;
  const cli = yargs(argv)
    .scriptName('globus-timer')
    .usage('$0 <command>\n\nA self-hosted Globus Timer: schedule Globus Action Provider calls (such as transfers).')
    .option('format', { choices: ['text', 'json'] as const, default: 'text' as const, describe: 'Output format' })
    .option('autostart', { type: 'boolean', default: true, describe: 'Start the daemon in the background if none is running (--no-autostart: fail instead)' })
    .command('job', 'Submit and manage timer jobs', jobCommands(io))
    .command('session', 'Log in to Globus and manage your saved tokens', sessionCommands(io))
    .command('daemon', 'Run and inspect the globus-timer daemon', daemonCommands(io, (code) => (exitCode = code)))
    // Shell completion: `globus-timer completion` prints the bash (or, under zsh, zsh)
    // script; the shell then calls `globus-timer --get-yargs-completions …`, which yargs
    // answers from the command tree alone: no handler runs, the daemon is never contacted.
    .completion('completion', 'Print a bash/zsh completion script: source <(globus-timer completion)')
    // One rule for every command's options (flag-values.ts): a boolean takes no value
    // (`--dry-run=yes` is refused, not read as false), an option with a value must get one.
    // Before validation and before any handler, so nothing is done.
    .middleware(checkFlagValues(argv) as MiddlewareFunction, true)
    .demandCommand(1, 'name a command: job, session, daemon or completion')
    .strict()
    .recommendCommands()
    .version(VERSION)
    .help()
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .exitProcess(false)
    // yargs reports usage errors as plain `Error`s (with `.fail(false)` they cannot be told
    // apart from a failing handler), so give them a class: they exit 2. A handler's own
    // error comes with no message argument and is passed on unchanged.
    .fail((msg, err) => {
      throw msg ? new InvalidInputError(msg, { cause: err }) : err;
    });
  try {
    await cli.parseAsync();
    return exitCode;
  } catch (err) {
    if (err instanceof ReportedError) return exitCodeFor(err.original);
    const e = err as Error;
    io.err(errorLine(e));
    return exitCodeFor(e);
  }
}

/**
 * yargs calls a middleware with the instance of the command being run as its second
 * argument (not in @types/yargs): its `getOptions()` has that command's option types.
 */
function checkFlagValues(rawArgs: readonly string[]) {
  return (_argv: unknown, y: { getOptions(): OptionTypes }): void => {
    const problem = flagValueProblem(rawArgs, y.getOptions());
    if (problem) throw new InvalidInputError(problem);
  };
}

function exitCodeFor(err: Error): number {
  if (err.name === 'YError') return EXIT.USAGE;
  if (err instanceof TimerError && err.code === ERROR_CODES.INVALID_INPUT) return EXIT.USAGE;
  return EXIT.RUNTIME;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await runCli(process.argv.slice(2));
}
