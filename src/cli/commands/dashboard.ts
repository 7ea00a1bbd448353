import { spawn } from 'node:child_process';
import type { Argv, CommandModule } from 'yargs';
import { readApiToken } from '../../auth/api-token.ts';
import { resolvePaths } from '../../config/paths.ts';
import { ERROR_CODES, TimerError } from '../../core/errors.ts';
import { apiOffError } from '../api-flag.ts';
import { withDaemon, type GlobalArgs } from '../context.ts';
import { toJson } from '../output.ts';

interface DashboardArgs extends GlobalArgs {
  print: boolean;
}

/** The program that opens a URL in the user's browser, or null where none can show one (no desktop). */
function browserOpener(env: NodeJS.ProcessEnv): string | null {
  if (process.platform === 'darwin') return 'open';
  return env.DISPLAY || env.WAYLAND_DISPLAY ? 'xdg-open' : null;
}

/** Resolves true once the opener started, false when it could not be (not installed). */
function open(opener: string, url: string): Promise<boolean> {
  return new Promise((resolve) => {
    try {
      const child = spawn(opener, [url], { detached: true, stdio: 'ignore' });
      child.once('spawn', () => {
        child.unref();
        resolve(true);
      });
      child.once('error', () => resolve(false));
    } catch {
      resolve(false);
    }
  });
}

/**
 * `dashboard` (issue 16): open the daemon's web dashboard at `URL/?token=…`. The page trades
 * the token for an HttpOnly cookie and drops it from the address (daemon/api/server.ts), so
 * it is in the browser's address bar for one redirect only. Without a desktop (or with
 * --print) the URL is printed for the user to open where a browser is; it is never logged.
 */
export const dashboardCommand: CommandModule<GlobalArgs, DashboardArgs> = {
  command: 'dashboard',
  describe: "Open the daemon's web dashboard (jobs, runs and a run timeline) in a browser",
  builder: (y: Argv<GlobalArgs>): Argv<DashboardArgs> =>
    y.option('print', { type: 'boolean', default: false, describe: 'Print the URL (it carries the API token) instead of opening a browser' }),
  handler: async (args) => {
    const status = await withDaemon(args, (c) => c.call('daemon.status', {}));
    if (status.api_url === null) throw apiOffError(status.pid);
    const paths = resolvePaths(args.io.env);
    const token = readApiToken(paths.apiTokenFile);
    if (token === null) {
      throw new TimerError(ERROR_CODES.API_OFF, `no REST API token in ${paths.apiTokenFile}: restart the daemon with --api to make one`);
    }
    const url = `${status.api_url}/?token=${encodeURIComponent(token)}`;
    const opener = args.print ? null : browserOpener(args.io.env);
    if (opener && (await open(opener, url))) {
      args.io.err(`globus-timer: opened the dashboard at ${status.api_url}/ in your browser`);
      return;
    }
    args.io.out(args.format === 'json' ? toJson({ url }) : url);
  },
};
