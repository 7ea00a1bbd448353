import readline from 'node:readline';
import type { CommandModule } from 'yargs';
import { resolvePaths } from '../config/paths.ts';
import { ERROR_CODES, TimerError } from '../core/errors.ts';
import { RpcClient, type JobsClient } from '../contract/client.ts';
import { startDetached } from './daemon-control.ts';
import { serviceChoice, serviceName, type ServiceChoice } from '../remote/service.ts';

/** What a command needs from the outside world; tests pass their own. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
  /** Ask for one line of input (the prompt goes to stderr); null at end of input. Absent: no input. */
  readLine?(prompt: string): Promise<string | null>;
  /** A person at a terminal: commands may then start the login flow themselves. */
  interactive?: boolean;
  /** stdout is a terminal, this many columns wide: live lines are redrawn in place (`job watch`). Absent: not a terminal. */
  terminalColumns?: number;
}

export const processIo: CliIo = {
  out: (text) => process.stdout.write(text + '\n'),
  err: (text) => process.stderr.write(text + '\n'),
  env: process.env,
  readLine: readStdinLine,
  interactive: Boolean(process.stdin.isTTY && process.stderr.isTTY),
  ...(process.stdout.isTTY ? { terminalColumns: process.stdout.columns || 80 } : {}),
};

/** One line from stdin, a terminal or a pipe alike (a pasted code, or one a test writes). */
async function readStdinLine(prompt: string): Promise<string | null> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr, terminal: Boolean(process.stdin.isTTY) });
  try {
    return await new Promise<string | null>((resolve) => {
      rl.once('close', () => resolve(null));
      rl.question(prompt, resolve);
    });
  } finally {
    rl.close();
  }
}

export type OutputFormat = 'text' | 'json';

/**
 * What runCli hands every command besides its options: yargs merges it into each command's
 * arguments (its parse context), so a command module is a plain object, no factory of io.
 */
export interface CommandContext {
  io: CliIo;
  /** For a command that ends with another code than 0 without failing (`daemon status`: 3, not running). */
  setExitCode(code: number): void;
}

/** What every command's arguments have: the global options and the context. */
export interface GlobalArgs extends CommandContext {
  format: OutputFormat;
  /** `--no-autostart` sets this false. */
  autostart: boolean;
  /** `--service local|hosted|URL` (service.ts); absent: GLOBUS_TIMER_SERVICE, else local. */
  service?: string | undefined;
}

/**
 * Any command of a group, whatever its own arguments: what a group's list holds
 * (commands/<group>/index.ts). Each module is typed with its own arguments where it is
 * defined (`CommandModule<GlobalArgs, PauseArgs>`); a list of them can only forget which,
 * as yargs' own `command(module)` does (its `U = any`).
 */
// biome-ignore lint/suspicious/noExplicitAny: a list of modules with different argument types (see above)
export type Command = CommandModule<GlobalArgs, any>;

/** Autostart is on unless `--no-autostart` or GLOBUS_TIMER_NO_AUTOSTART=1 (any value but 0/empty). */
function autostartEnabled(args: GlobalArgs): boolean {
  const off = args.io.env.GLOBUS_TIMER_NO_AUTOSTART;
  return args.autostart && (off === undefined || off === '' || off === '0');
}

/**
 * Connect to the daemon, run `fn`, always close. When no daemon answers, start one in the
 * background first (as gpg-agent does) and say so in one line on stderr.
 */
export async function withDaemon<T>(args: GlobalArgs, fn: (client: RpcClient) => Promise<T>): Promise<T> {
  const { io } = args;
  const paths = resolvePaths(io.env);
  let client: RpcClient;
  try {
    client = await RpcClient.connect(paths.socketPath);
  } catch (err) {
    if (!(err instanceof TimerError && err.code === ERROR_CODES.DAEMON_NOT_RUNNING) || !autostartEnabled(args)) throw err;
    const pid = await startDetached(paths, io.env);
    io.err(`globus-timer: started the daemon in the background (pid ${pid}); logs: globus-timer daemon logs`);
    client = await RpcClient.connect(paths.socketPath);
  }
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/**
 * Run a job command against the service chosen (service.ts): the local daemon (withDaemon),
 * or a Timers REST API through remote/timers-client.ts, loaded only then, so local commands
 * start as fast as before. With `verbose`, a line on stderr names the service once it has
 * answered (an error names it already, in its one line).
 */
export async function withJobs<T>(args: GlobalArgs & { verbose?: boolean }, fn: (client: JobsClient) => Promise<T>): Promise<T> {
  return withService(args, serviceChoice(args.service, args.io.env), fn);
}

/** withJobs against a service named otherwise (`job copy --from/--to`). */
export async function withService<T>(args: GlobalArgs & { verbose?: boolean }, choice: ServiceChoice, fn: (client: JobsClient) => Promise<T>): Promise<T> {
  let result: T;
  if (choice.kind === 'local') result = await withDaemon(args, fn);
  else {
    const { RemoteTimers } = await import('../remote/timers-client.ts');
    const client = RemoteTimers.open(choice, args.io.env);
    try {
      result = await fn(client);
    } finally {
      await client.close();
    }
  }
  if (args.verbose) args.io.err(`globus-timer: answered by ${serviceName(choice)}`);
  return result;
}
