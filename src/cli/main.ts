import { pathToFileURL } from 'node:url';
import yargs, { type Argv, type CommandModule, type MiddlewareFunction } from 'yargs';
import { coerceError, ERROR_CODES, InvalidInputError, ReportedError, TimerError } from '../core/errors.ts';
import { fileSystemError } from '../fs/fs-error.ts';
import { VERSION } from '../util/package-root.ts';
import { apiCommands } from './commands/api/index.ts';
import { dashboardCommand } from './commands/dashboard.ts';
import { daemonCommands } from './commands/daemon/index.ts';
import { jobCommands } from './commands/job/index.ts';
import { sessionCommands } from './commands/session/index.ts';
import { COMPLETION_DESCRIPTION, completeWithNegations, printCompletionScript, YARGS_COMPLETION_COMMAND } from './completion.ts';
import { processIo, type CliIo, type Command, type CommandContext, type GlobalArgs } from './context.ts';
import { DISPLAY_TZ_ENV, displayZoneFrom, setDisplayZone } from './display-time.ts';
import { single } from './options.ts';
import { SERVICE_ENV } from '../remote/service.ts';
import { flagValueProblem, type OptionTypes } from './flag-values.ts';
import { errorJson, errorLine } from './output.ts';
import { describeUsageError, usageContext } from './usage-errors.ts';

/** Exit codes (SPEC §5): 0 success, 1 runtime error, 2 usage error. */
export const EXIT = { OK: 0, RUNTIME: 1, USAGE: 2 } as const;

/** Not an option: it only holds the "Options:" help group's place (see runCli). */
const OWN_OPTIONS_FIRST = 'own-options-first';

/**
 * Parse and run one command line; returns the exit code. Never calls process.exit, so
 * tests run it in-process.
 */
export async function runCli(argv: string[], callerIo: CliIo = processIo): Promise<number> {
  let exitCode: number = EXIT.OK;
  const { io, printed } = watchingStdout(callerIo);
  const cli = commandLine(argv, io);
  try {
    // Every command gets io and setExitCode in its arguments (yargs' parse context, merged into them).
    const context: CommandContext = { io, setExitCode: (code) => (exitCode = code) };
    const args = await cli.parseAsync(argv, context);
    // No command at all (`globus-timer`): the help, exit 0, as the original did; unless yargs
    // has answered the line itself (--help, --version, the shell asking for completions).
    const answered = ['help', 'version', 'get-yargs-completions'].some((key) => args[key] === true);
    if (args._.length === 0 && !answered) io.out(await cli.getHelp());
    return exitCode;
  } catch (err) {
    // Printed already (by `job delete`, one line per id): only its exit code is left.
    const reported = err instanceof ReportedError;
    const e = reported ? err.original : (fileSystemError(err) ?? coerceError(err));
    if (!reported) io.err(errorLine(e));
    // A script that asked for JSON gets JSON on failure too (the same exit code): unless the
    // command printed its document already, since stdout holds exactly one.
    if (asksForJson(argv) && !printed()) io.out(errorJson(e, errorCodeOf(e)));
    return exitCodeFor(e);
  }
}

/** The whole command line: global options, the command groups, help layout and usage errors. */
function commandLine(argv: string[], io: CliIo) {
  // The help of the command being run, on stdout, exit 0: for a group named without a
  // subcommand (`globus-timer job`), as the original (click) showed a group's, and for no
  // command at all (runCli).
  const groupHelp = async (): Promise<void> => io.out(await cli.getHelp());
  const cli = yargs(argv)
    .scriptName('globus-timer')
    .usage('$0 <command>\n\nA self-hosted Globus Timer: schedule Globus Action Provider calls (such as transfers).')
    .option('format', { choices: ['text', 'json'] as const, default: 'text' as const, describe: 'Output format' })
    .option('autostart', { type: 'boolean', default: true, describe: 'Start the daemon in the background if none is running (--no-autostart: fail instead)' })
    .option('service', {
      ...single('service'),
      type: 'string',
      describe: `Which Timers service job commands drive: local (this machine's daemon), hosted (Globus Timers), or a Timers API URL (default: $${SERVICE_ENV}, else local)`,
    })
    .option('tz', {
      ...single('tz'),
      type: 'string',
      describe: `Show times in text output in this zone: utc, local or an IANA zone such as Europe/Berlin (default: $${DISPLAY_TZ_ENV}, else UTC)`,
    })
    .command('job', 'Submit and manage timer jobs', (y) => withCommands(y, jobCommands), groupHelp)
    .command('session', 'Log in to Globus and manage your saved tokens', (y) => withCommands(y, sessionCommands), groupHelp)
    .command('daemon', 'Run and inspect the globus-timer daemon', (y) => withCommands(y, daemonCommands), groupHelp)
    .command(
      'api',
      'The Globus Timers REST API the daemon serves on loopback (daemon start --api): its URL and token',
      (y) => withCommands(y, apiCommands),
      groupHelp,
    )
    // A top-level command: the global options' types are the group commands' GlobalArgs, not yargs' inferred ones.
    .command(dashboardCommand as unknown as CommandModule)
    // Shell completion (completion.ts): our command prints the script, yargs answers the shell.
    .command(
      'completion',
      COMPLETION_DESCRIPTION,
      (b) => b,
      (): void => printCompletionScript(cli),
    )
    .completion(
      YARGS_COMPLETION_COMMAND,
      false,
      completeWithNegations((): object => cli),
    )
    // One rule for every command's options (flag-values.ts): a boolean takes no value
    // (`--dry-run=yes` is refused, not read as false), an option with a value must get one.
    // Before validation and before any handler, so nothing is done.
    .middleware(checkFlagValues(argv) as MiddlewareFunction, true)
    // Set for every command line, so a --tz of an earlier in-process run never lingers (display-time.ts).
    .middleware((args) => setDisplayZone(displayZoneFrom(args.tz as string | undefined, io.env)))
    .strict()
    .recommendCommands()
    .version(VERSION)
    .help()
    // Help lists a command's own options first, then the global ones. yargs shows a
    // command's own groups, then the groups kept from the top level, then "Options:" for
    // whatever no group holds; so the top level keeps an "Options:" group (holding only a
    // hidden placeholder) ahead of "Global options:", and each command's options fill it.
    .group([OWN_OPTIONS_FIRST], 'Options:')
    .hide(OWN_OPTIONS_FIRST)
    .group(['format', 'autostart', 'service', 'tz', 'help', 'version'], 'Global options:')
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .exitProcess(false)
    // yargs reports usage errors as plain `Error`s (with `.fail(false)` they cannot be told
    // apart from a failing handler), so give them a class: they exit 2, in our words
    // (usage-errors.ts). A handler's own error comes with no message argument, and ours
    // (a middleware's) as TimerErrors: both are passed on unchanged.
    .fail((msg, err) => {
      if (!msg || err instanceof TimerError) throw err;
      throw new InvalidInputError(describeUsageError(msg, usageContext(cli)), { cause: err });
    });
  return cli;
}

/**
 * A group's commands (commands/<group>/index.ts), registered on the group's yargs. Their
 * arguments carry the parse context runCli passes (CommandContext): yargs merges it into
 * every command's arguments, which its types cannot know, so they are told here.
 */
function withCommands<T>(y: Argv<T>, commands: Command[]): Argv<GlobalArgs> {
  return (y as Argv<GlobalArgs>).command(commands);
}

/** `io` with its stdout watched: whether a command has printed anything yet. */
function watchingStdout(io: CliIo): { io: CliIo; printed: () => boolean } {
  let any = false;
  const out = (text: string) => {
    any = true;
    io.out(text);
  };
  return { io: { ...io, out }, printed: () => any };
}

/**
 * `--format json` on the command line, read from the words themselves: a usage error may
 * stop yargs before it has parsed the option. The last one counts, as in yargs; nothing
 * after `--` is an option. Only --format: `-v` asks for a job document, which an error has
 * not, and the original CLI printed its errors as text with -v.
 */
function asksForJson(argv: readonly string[]): boolean {
  let json = false;
  for (const [i, word] of argv.entries()) {
    if (word === '--') break;
    if (word === '--format') json = argv[i + 1] === 'json';
    else if (word.startsWith('--format=')) json = word === '--format=json';
  }
  return json;
}

/** The stable code of an error for `{"error": {"code", …}}`: a usage error is INVALID_INPUT, a bug INTERNAL. */
function errorCodeOf(err: Error): string {
  if (err instanceof TimerError) return err.code;
  return err.name === 'YError' ? ERROR_CODES.INVALID_INPUT : ERROR_CODES.INTERNAL;
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
  return errorCodeOf(err) === ERROR_CODES.INVALID_INPUT ? EXIT.USAGE : EXIT.RUNTIME;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await runCli(process.argv.slice(2));
}
