import type { CommandModule } from 'yargs';
import { resolvePaths } from '../../../config/paths.ts';
import type { GlobalArgs } from '../../context.ts';
import { stopDaemon } from '../../daemon-control.ts';
import { toJson } from '../../output.ts';

/** `daemon stop`: a graceful stop, waited for; none running is not an error. */
export const stopCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'stop',
  describe: 'Stop the daemon gracefully and wait until it has exited',
  handler: async (args) => {
    const pid = await stopDaemon(resolvePaths(args.io.env));
    if (args.format === 'json') return args.io.out(toJson({ running: false, stopped: pid !== null, pid }));
    args.io.out(pid === null ? 'globus-timer daemon is not running' : `globus-timer daemon stopped (pid ${pid})`);
  },
};
