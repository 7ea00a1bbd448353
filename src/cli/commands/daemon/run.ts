import type { CommandModule } from 'yargs';
import { apiFlag, apiOption } from '../../api-flag.ts';
import type { GlobalArgs } from '../../context.ts';

interface RunArgs extends GlobalArgs {
  'log-file': boolean;
  api?: string | undefined;
}

/** `daemon run [--log-file] [--api HOST:PORT]`: the daemon in this process, until a signal stops it. */
export const runCommand: CommandModule<GlobalArgs, RunArgs> = {
  command: 'run',
  describe: 'Run the daemon in the foreground (what a systemd unit or `npm start` calls)',
  builder: (y) =>
    y
      .option('log-file', { type: 'boolean', default: false, describe: 'Log to rotating files under the state directory instead of stderr' })
      .option('api', apiOption),
  handler: async (args) => {
    // Checked before the daemon is loaded: a bad address is exit 2 and nothing starts.
    // Not given: the daemon reads GLOBUS_TIMER_API_ADDR itself (a systemd unit sets it there).
    const apiAddr = apiFlag(args.api);
    // Loaded only here, the one import of daemon/ in the CLI: the rest of it never opens the database.
    const { runDaemon } = await import('../../../daemon/main.ts');
    args.setExitCode(await runDaemon({ logToFile: args['log-file'], apiAddr }));
  },
};
