import type { CommandModule } from 'yargs';
import { resolvePaths } from '../../../config/paths.ts';
import type { GlobalArgs } from '../../context.ts';
import { currentLogFile, daemonPid, startDetached } from '../../daemon-control.ts';
import { toJson } from '../../output.ts';

/** `daemon start`: a detached daemon, unless one runs already (not an error). */
export const startCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'start',
  describe: 'Start the daemon in the background and wait until it answers',
  handler: async (args) => {
    const { io } = args;
    const paths = resolvePaths(io.env);
    const json = args.format === 'json';
    const running = await daemonPid(paths);
    if (running !== null) {
      return io.out(json ? toJson({ running: true, started: false, pid: running }) : `globus-timer daemon is already running (pid ${running})`);
    }
    const pid = await startDetached(paths, io.env);
    const log = currentLogFile(paths);
    io.out(
      json ? toJson({ running: true, started: true, pid, log_file: log }) : `globus-timer daemon started (pid ${pid}); logs: ${log} (globus-timer daemon logs)`,
    );
  },
};
