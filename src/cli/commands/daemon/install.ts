import type { CommandModule } from 'yargs';
import type { GlobalArgs } from '../../context.ts';
import { toJson } from '../../output.ts';
import { unitKind, installApiAddr, installApiOption, installOptions, snakeCaseKeys, type InstallArgs } from '../../install-flags.ts';

/** `daemon install [--systemd|--launchd] [--api PORT] [--dry-run]`: the unit files written; enabling them is printed, left to the user. */
export const installCommand: CommandModule<GlobalArgs, InstallArgs & { api?: string | undefined }> = {
  command: 'install',
  describe: 'Install the daemon as a user service (systemd on Linux, launchd on macOS) and print how to enable it',
  builder: (y) => installOptions(y, 'Show the files and commands; change nothing').option('api', installApiOption),
  handler: async (args) => {
    const { io } = args;
    // Checked before anything is planned: a bad address is exit 2 and nothing is written.
    const apiAddr = installApiAddr(args.api);
    const { installService } = await import('../../../install/plans.ts');
    // Writes the files but leaves enabling to the user, as the commands printed say:
    // starting a service is the service manager's business, and stays visible.
    const plan = installService({ kind: unitKind(args), env: io.env, dryRun: args['dry-run'], apiAddr });
    if (args.format === 'json') return io.out(toJson(snakeCaseKeys({ ...plan, files: plan.files.map(({ content: _, ...f }) => f) })));
    const verb = plan.dryRun ? 'Would write' : 'Wrote';
    for (const f of plan.files) io.out(`${verb} ${f.path}${f.state === 'same' ? ' (unchanged)' : ''}`);
    io.out(`\nTo enable and start it${plan.dryRun ? ' (after installing)' : ''}, run:`);
    for (const c of plan.commands) io.out(`  ${c.shell}`);
    for (const note of plan.notes) io.out(`\nNote: ${note}`);
  },
};
