import type { CommandModule } from 'yargs';
import { resolvePaths, type AppPaths } from '../../../config/paths.ts';
import { RpcClient } from '../../../contract/client.ts';
import { apiOption, checkServes, daemonEnv, wantedApiAddr } from '../../api-flag.ts';
import type { GlobalArgs } from '../../context.ts';
import { currentLogFile, daemonPid, startDetached } from '../../daemon-control.ts';
import { toJson } from '../../output.ts';

interface StartArgs extends GlobalArgs {
  api?: string | undefined;
}

/** The REST API's base URL of the daemon that answers, or null when it serves none. */
async function apiUrlOf(paths: AppPaths): Promise<{ pid: number; api_url: string | null }> {
  const client = await RpcClient.connect(paths.socketPath);
  try {
    const status = await client.call('daemon.status', {});
    return { pid: status.pid, api_url: status.api_url };
  } finally {
    client.close();
  }
}

/** `; REST API: URL …` after the usual line, when the daemon serves it. */
function apiNote(apiUrl: string | null): string {
  return apiUrl ? `; REST API: ${apiUrl} (its token: globus-timer api token)` : '';
}

/** `daemon start [--api HOST:PORT]`: a detached daemon, unless one runs already (not an error, unless it lacks the API asked for). */
export const startCommand: CommandModule<GlobalArgs, StartArgs> = {
  command: 'start',
  describe: 'Start the daemon in the background and wait until it answers',
  builder: (y) => y.option('api', apiOption),
  handler: async (args) => {
    const { io } = args;
    // Before anything starts: a bad --api or GLOBUS_TIMER_API_ADDR is exit 2.
    const wanted = wantedApiAddr(args.api, io.env);
    const paths = resolvePaths(io.env);
    const json = args.format === 'json';
    const running = await daemonPid(paths);
    if (running !== null) {
      const status = await apiUrlOf(paths);
      checkServes(status, wanted);
      if (json) return io.out(toJson({ running: true, started: false, pid: status.pid, api_url: status.api_url }));
      return io.out(`globus-timer daemon is already running (pid ${status.pid})${apiNote(status.api_url)}`);
    }
    // The address goes to the daemon in its environment, as a systemd unit would set it.
    await startDetached(paths, daemonEnv(io.env, wanted));
    // Asked of the daemon that answers: the port it bound (with port 0), and whether it is
    // ours at all (another CLI's daemon may have won a race to start).
    const status = await apiUrlOf(paths);
    checkServes(status, wanted);
    const log = currentLogFile(paths);
    io.out(
      json
        ? toJson({ running: true, started: true, pid: status.pid, log_file: log, api_url: status.api_url })
        : `globus-timer daemon started (pid ${status.pid}); logs: ${log} (globus-timer daemon logs)${apiNote(status.api_url)}`,
    );
  },
};
