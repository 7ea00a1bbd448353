import type { Argv } from 'yargs';
import { resolvePaths } from '../../config/paths.ts';
import { ERROR_CODES, InvalidInputError, TimerError } from '../../core/errors.ts';
import { RpcClient } from '../../contract/client.ts';
import type { DaemonStatus } from '../../contract/protocol.ts';
import { currentLogFile, daemonPid, startDetached, stopDaemon } from '../daemon-control.ts';
import type { CliIo, GlobalArgs } from '../context.ts';
import { formatRecord, toJson } from '../output.ts';
import { single } from '../options.ts';
import { displayTime } from '../display-time.ts';
import { mapJson } from '../../util/json-map.ts';
import type { ServiceKind } from '../../install/plans.ts';

/** `--systemd | --launchd` and `--dry-run`, shared by install and uninstall. */
function serviceOptions<T>(b: Argv<T>, dryRunMeans: string) {
  return b
    .option('systemd', { type: 'boolean', describe: 'The systemd user service and socket (default on Linux)' })
    .option('launchd', { type: 'boolean', describe: 'The launchd agent (default on macOS)' })
    .conflicts('systemd', 'launchd')
    .option('dry-run', { type: 'boolean', default: false, describe: dryRunMeans });
}

function serviceKind(args: { systemd?: boolean | undefined; launchd?: boolean | undefined }): ServiceKind | undefined {
  if (args.systemd) return 'systemd';
  if (args.launchd) return 'launchd';
  return undefined;
}

/** `daemon status` exit codes, as LSB init scripts and `systemctl status` use them. */
export const STATUS_EXIT = { RUNNING: 0, NOT_RUNNING: 3 } as const;

function statusRecord(status: DaemonStatus): string {
  const late = status.fire_lateness_ms;
  return formatRecord([
    ['Status', 'running'],
    ['PID', status.pid],
    ['Version', `${status.version} (protocol ${status.protocol_version})`],
    ['Started', displayTime(status.started_at)],
    ['Uptime', `${status.uptime_seconds}s`],
    ['Database', status.db_file],
    ['Socket', `${status.socket_path}${status.socket_activated ? ' (socket-activated)' : ''}`],
    ['Log', status.log_file ?? 'stderr'],
    ['Jobs', Object.entries(status.jobs).map(([k, n]) => `${n} ${k}`).join(', ')],
    ['Runs In Flight', status.runs_in_flight],
    ['Fire Lateness', late.runs ? `p50 ${late.p50} ms, p99 ${late.p99} ms, max ${late.max} ms (last ${late.runs} runs)` : null],
  ]);
}

/** A pino line as its object; anything else (output before logging started) as the string. */
function logEntry(line: string): unknown {
  try {
    return JSON.parse(line) as unknown;
  } catch {
    return line;
  }
}

/**
 * `daemon install`/`uninstall --format json`: the plan with snake_case keys (`dry_run`,
 * `socket_path`, `after_commands`), as every other document the CLI prints. The plan's
 * TypeScript fields stay camelCase; its values are paths and commands, never keys.
 */
function snakeCaseKeys(value: unknown): unknown {
  return mapJson(value, { key: (k) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) });
}

const DEFAULT_LOG_LINES = 50;

/** `daemon logs -n`: a whole number of lines, 0 or more; anything else (`abc`, `-1`, `1.5`) is a usage error. */
function lineCount(text: string): number {
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new InvalidInputError(`invalid -n ${JSON.stringify(text)}: give a whole number of lines, 0 or more`);
  }
  return Number(text);
}

export function daemonCommands(io: CliIo, setExitCode: (code: number) => void) {
  return (y: Argv<GlobalArgs>) =>
    y
      .command(
        'run',
        'Run the daemon in the foreground (what a systemd unit or `npm start` calls)',
        (b) => b.option('log-file', { type: 'boolean', default: false, describe: 'Log to rotating files under the state directory instead of stderr' }),
        async (args) => {
          // Loaded only here: the rest of the CLI never opens the database.
          const { runDaemon } = await import('../../daemon/main.ts');
          setExitCode(await runDaemon({ logToFile: args['log-file'] }));
        },
      )
      .command(
        'start',
        'Start the daemon in the background and wait until it answers',
        (b) => b,
        async (args) => {
          const paths = resolvePaths(io.env);
          const json = args.format === 'json';
          const running = await daemonPid(paths);
          if (running !== null) {
            return io.out(json ? toJson({ running: true, started: false, pid: running }) : `globus-timer daemon is already running (pid ${running})`);
          }
          const pid = await startDetached(paths, io.env);
          const log = currentLogFile(paths);
          io.out(json ? toJson({ running: true, started: true, pid, log_file: log }) : `globus-timer daemon started (pid ${pid}); logs: ${log} (globus-timer daemon logs)`);
        },
      )
      .command(
        'stop',
        'Stop the daemon gracefully and wait until it has exited',
        (b) => b,
        async (args) => {
          const pid = await stopDaemon(resolvePaths(io.env));
          if (args.format === 'json') return io.out(toJson({ running: false, stopped: pid !== null, pid }));
          io.out(pid === null ? 'globus-timer daemon is not running' : `globus-timer daemon stopped (pid ${pid})`);
        },
      )
      .command(
        'status',
        'Show whether the daemon runs (exit 0) or not (exit 3), with its paths, jobs and fire lateness',
        (b) => b,
        async (args) => {
          const paths = resolvePaths(io.env);
          let client: RpcClient;
          try {
            client = await RpcClient.connect(paths.socketPath);
          } catch (err) {
            // Someone else's socket or directory is not "not running": say so (exit 1).
            if (err instanceof TimerError && err.code === ERROR_CODES.UNSAFE_PATH) throw err;
            if (await daemonPid(paths).catch(() => null)) throw err; // running, but unusable (e.g. version mismatch)
            setExitCode(STATUS_EXIT.NOT_RUNNING);
            if (args.format === 'json') return io.out(toJson({ running: false, socket_path: paths.socketPath }));
            return io.out(`globus-timer daemon is not running (no answer at ${paths.socketPath}); start it with: globus-timer daemon start`);
          }
          try {
            const status = await client.call('daemon.status', {});
            io.out(args.format === 'json' ? toJson({ running: true, ...status }) : statusRecord(status));
          } finally {
            client.close();
          }
        },
      )
      .command(
        'logs',
        "Show the detached daemon's log, readably",
        (b) =>
          b
            .option('follow', { alias: 'f', type: 'boolean', default: false, describe: 'Keep printing new lines (Ctrl-C stops)' })
            .option('lines', { ...single('lines'), alias: 'n', type: 'string', requiresArg: true, describe: `How many of the last lines to show (default ${DEFAULT_LOG_LINES}; 0: none)` }),
        async (args) => {
          const wanted = args.lines === undefined ? DEFAULT_LOG_LINES : lineCount(args.lines);
          const { follow, lineFormatter, tailLines } = await import('../logs.ts'); // pino-pretty: only here
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
      )
      .command(
        'install',
        'Install the daemon as a user service (systemd on Linux, launchd on macOS) and print how to enable it',
        (b) => serviceOptions(b, 'Show the files and commands; change nothing'),
        async (args) => {
          const { installService } = await import('../../install/plans.ts');
          // Writes the files but leaves enabling to the user, as the commands printed say:
          // starting a service is the service manager's business, and stays visible.
          const plan = installService({ kind: serviceKind(args), env: io.env, dryRun: args['dry-run'] });
          if (args.format === 'json') return io.out(toJson(snakeCaseKeys({ ...plan, files: plan.files.map(({ content: _, ...f }) => f) })));
          const verb = plan.dryRun ? 'Would write' : 'Wrote';
          for (const f of plan.files) io.out(`${verb} ${f.path}${f.state === 'same' ? ' (unchanged)' : ''}`);
          io.out(`\nTo enable and start it${plan.dryRun ? ' (after installing)' : ''}, run:`);
          for (const c of plan.commands) io.out(`  ${c.shell}`);
          for (const note of plan.notes) io.out(`\nNote: ${note}`);
        },
      )
      .command(
        'uninstall',
        'Stop and disable the user service, and remove its files (jobs and history stay)',
        (b) => serviceOptions(b, 'Show what would be run and removed; change nothing'),
        async (args) => {
          const { spawnRunner, uninstallService } = await import('../../install/plans.ts');
          const json = args.format === 'json';
          // Unlike install, this runs the commands itself: `systemctl disable` needs the unit
          // files, so it must run before they are removed, in one step.
          const result = uninstallService({
            kind: serviceKind(args),
            env: io.env,
            dryRun: args['dry-run'],
            run: (cmd) => {
              (json ? io.err : io.out)(`$ ${cmd.shell}`);
              return spawnRunner(cmd);
            },
          });
          if (!result.ok) setExitCode(1);
          if (json) return io.out(toJson(snakeCaseKeys(result)));
          if (result.dryRun) {
            for (const c of [...result.commands]) io.out(`Would run: ${c.shell}`);
            for (const f of result.files.filter((f) => f.exists)) io.out(`Would remove ${f.path}`);
            for (const c of result.afterCommands) io.out(`Would run: ${c.shell}`);
            return;
          }
          for (const p of result.removed) io.out(`Removed ${p}`);
          if (result.removed.length === 0) io.out('Nothing to remove: the service was not installed');
          for (const note of result.notes) io.out(note);
        },
      );
}
