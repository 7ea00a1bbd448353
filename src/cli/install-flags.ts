import type { Argv } from 'yargs';
import type { ServiceKind } from '../install/plans.ts';
import type { GlobalArgs } from './context.ts';
import { mapJson } from '../util/json-map.ts';

/** The arguments of `daemon install` and `daemon uninstall`: the same flags. */
export interface InstallArgs extends GlobalArgs {
  systemd?: boolean | undefined;
  launchd?: boolean | undefined;
  'dry-run': boolean;
}

/** `--systemd | --launchd` and `--dry-run`, shared by install and uninstall. */
export function installOptions<T>(b: Argv<T>, dryRunMeans: string) {
  return b
    .option('systemd', { type: 'boolean', describe: 'The systemd user service and socket (default on Linux)' })
    .option('launchd', { type: 'boolean', describe: 'The launchd agent (default on macOS)' })
    .conflicts('systemd', 'launchd')
    .option('dry-run', { type: 'boolean', default: false, describe: dryRunMeans });
}

export function unitKind(args: Pick<InstallArgs, 'systemd' | 'launchd'>): ServiceKind | undefined {
  if (args.systemd) return 'systemd';
  if (args.launchd) return 'launchd';
  return undefined;
}

/**
 * `daemon install`/`uninstall --format json`: the plan with snake_case keys (`dry_run`,
 * `socket_path`, `after_commands`), as every other document the CLI prints. The plan's
 * TypeScript fields stay camelCase; its values are paths and commands, never keys.
 */
export function snakeCaseKeys(value: unknown): unknown {
  return mapJson(value, { key: (k) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) });
}
