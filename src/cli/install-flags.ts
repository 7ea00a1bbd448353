import type { Argv } from 'yargs';
import { parseApiAddr, type ApiAddr } from '../core/api-addr.ts';
import { InvalidInputError } from '../core/errors.ts';
import type { ServiceKind } from '../install/plans.ts';
import type { GlobalArgs } from './context.ts';
import { single } from './options.ts';
import { mapJson } from '../util/json-map.ts';

/** The arguments of `daemon install` and `daemon uninstall`: the same flags. */
export interface InstallArgs extends GlobalArgs {
  systemd?: boolean | undefined;
  launchd?: boolean | undefined;
  'dry-run': boolean;
}

/** `daemon install --api PORT|HOST:PORT`: install's only flag that uninstall has no use for. */
export const installApiOption = {
  ...single('api'),
  type: 'string',
  requiresArg: true,
  describe:
    'Also serve the Globus Timers REST API on this loopback port: PORT (on 127.0.0.1) or HOST:PORT, e.g. 8765 or [::1]:8765; a fixed port, held by the systemd socket unit',
} as const;

/**
 * `--api` of `daemon install`, checked as `daemon run --api` checks it (loopback only, exit 2),
 * and a fixed port: with 0 the daemon would pick one each start, which no client could know
 * and a socket unit cannot hold.
 */
export function installApiAddr(text: string | undefined): ApiAddr | undefined {
  if (text === undefined) return undefined;
  const addr = parseApiAddr(text, '--api');
  if (addr.port === 0) {
    throw new InvalidInputError(
      `invalid --api ${JSON.stringify(text)}: daemon install needs a fixed port, which the service keeps and clients are given, e.g. --api 8765`,
    );
  }
  return addr;
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
