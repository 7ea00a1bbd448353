import type { CommandModule } from 'yargs';
import type { GlobalArgs } from '../../context.ts';
import { toJson } from '../../output.ts';
import { unitKind, installOptions, snakeCaseKeys, type InstallArgs } from '../../install-flags.ts';

/** `daemon uninstall [--systemd|--launchd] [--dry-run]`: the service stopped and disabled, its files removed; exit 1 if a step failed. */
export const uninstallCommand: CommandModule<GlobalArgs, InstallArgs> = {
  command: 'uninstall',
  describe: 'Stop and disable the user service, and remove its files (jobs and history stay)',
  builder: (y) => installOptions(y, 'Show what would be run and removed; change nothing'),
  handler: async (args) => {
    const { io } = args;
    const { spawnRunner, uninstallService } = await import('../../../install/plans.ts');
    const json = args.format === 'json';
    // Unlike install, this runs the commands itself: `systemctl disable` needs the unit
    // files, so it must run before they are removed, in one step.
    const result = uninstallService({
      kind: unitKind(args),
      env: io.env,
      dryRun: args['dry-run'],
      run: (cmd) => {
        (json ? io.err : io.out)(`$ ${cmd.shell}`);
        return spawnRunner(cmd);
      },
    });
    if (!result.ok) args.setExitCode(1);
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
};
