import type { CommandModule } from 'yargs';
import { resolvePaths, type AppPaths } from '../../../config/paths.ts';
import { ERROR_CODES, TimerError } from '../../../core/errors.ts';
import { RpcClient } from '../../../contract/client.ts';
import type { DaemonStatus } from '../../../contract/protocol.ts';
import type { GlobalArgs } from '../../context.ts';
import { daemonPid } from '../../daemon-control.ts';
import { displayTime } from '../../display-time.ts';
import { formatRecord, toJson } from '../../output.ts';
import { shortSize } from '../../../util/byte-size.ts';

/** `daemon status` exit codes, as LSB init scripts and `systemctl status` use them. */
const STATUS_EXIT = { RUNNING: 0, NOT_RUNNING: 3 } as const;

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
    // The Timers REST API (issue 14): its base URL, or off (started without --api).
    ['API', status.api_url ?? 'off'],
    [
      'Jobs',
      Object.entries(status.jobs)
        .map(([k, n]) => `${n} ${k}`)
        .join(', '),
    ],
    ['Runs In Flight', status.runs_in_flight],
    ['Fire Lateness', late.runs ? `p50 ${late.p50} ms, p99 ${late.p99} ms, max ${late.max} ms (last ${late.runs} runs)` : null],
    ['Store', storeText(status.store)],
  ]);
}

/** `12.3 MiB (WAL 1.0 MiB), 45.6 GiB free`, and what is wrong when something is (issue 17 item 3). */
function storeText(store: DaemonStatus['store'] | undefined): string | null {
  // An older daemon does not say.
  if (!store) return null;
  const free = store.free_bytes === null ? 'free space unknown' : `${shortSize(store.free_bytes)} free`;
  const parts = [`${shortSize(store.db_bytes)} (WAL ${shortSize(store.wal_bytes)}), ${free}`];
  if (store.writes_failing) parts.push('WARNING: runs cannot be recorded (disk full?): new jobs are refused until there is room');
  else if (store.low_space) parts.push('WARNING: little free space left: free some, or move the state directory (GLOBUS_TIMER_HOME)');
  return parts.join('; ');
}

/**
 * The daemon's client, or null when none runs. Someone else's socket or directory is not
 * "not running", nor is a daemon that runs but does not answer usably (e.g. a version
 * mismatch): those are errors (exit 1).
 */
async function runningDaemon(paths: AppPaths): Promise<RpcClient | null> {
  try {
    return await RpcClient.connect(paths.socketPath);
  } catch (err) {
    if (err instanceof TimerError && err.code === ERROR_CODES.UNSAFE_PATH) throw err;
    if (await daemonPid(paths).catch(() => null)) throw err;
    return null;
  }
}

/** `daemon status`: the daemon's own account (exit 0), or that none answers (exit 3); never starts one. */
export const statusCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'status',
  describe: 'Show whether the daemon runs (exit 0) or not (exit 3), with its paths, REST API, jobs and fire lateness',
  handler: async (args) => {
    const paths = resolvePaths(args.io.env);
    const client = await runningDaemon(paths);
    if (client === null) {
      args.setExitCode(STATUS_EXIT.NOT_RUNNING);
      if (args.format === 'json') return args.io.out(toJson({ running: false, socket_path: paths.socketPath }));
      return args.io.out(`globus-timer daemon is not running (no answer at ${paths.socketPath}); start it with: globus-timer daemon start`);
    }
    try {
      const status = await client.call('daemon.status', {});
      args.io.out(args.format === 'json' ? toJson({ running: true, ...status }) : statusRecord(status));
    } finally {
      client.close();
    }
  },
};
