import type { CommandModule } from 'yargs';
import type { GlobalArgs } from '../../context.ts';

interface RunArgs extends GlobalArgs {
  'log-file': boolean;
}

/** `daemon run [--log-file]`: the daemon in this process, until a signal stops it. */
export const runCommand: CommandModule<GlobalArgs, RunArgs> = {
  command: 'run',
  describe: 'Run the daemon in the foreground (what a systemd unit or `npm start` calls)',
  builder: (y) => y.option('log-file', { type: 'boolean', default: false, describe: 'Log to rotating files under the state directory instead of stderr' }),
  handler: async (args) => {
    // Loaded only here, the one import of daemon/ in the CLI: the rest of it never opens the database.
    const { runDaemon } = await import('../../../daemon/main.ts');
    args.setExitCode(await runDaemon({ logToFile: args['log-file'] }));
  },
};
