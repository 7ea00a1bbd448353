import { spawn } from 'node:child_process';
import type { Argv, CommandModule } from 'yargs';
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
 * `dashboard` (issue 16): open the daemon's web dashboard with a one-time login URL
 * (`URL/?code=…`, RPC api.dashboard_login). The token never leaves the CLI: a browser's argv
 * (/proc/PID/cmdline, readable by other users) and its history get a code that works once,
 * within 5 minutes, and that the page trades for an HttpOnly cookie at once (the redirect
 * drops it from the address). Without a desktop (or with --print) the URL is printed for the
 * user to open where a browser is; it is never logged.
 */
export const dashboardCommand: CommandModule<GlobalArgs, DashboardArgs> = {
  command: 'dashboard',
  describe: "Open the daemon's web dashboard (jobs, runs and a run timeline) in a browser",
  builder: (y: Argv<GlobalArgs>): Argv<DashboardArgs> =>
    y.option('print', { type: 'boolean', default: false, describe: 'Print a login URL (it works once, within 5 minutes) instead of opening a browser' }),
  handler: async (args) => {
    const { status, url } = await withDaemon(args, async (c) => {
      const status = await c.call('daemon.status', {});
      if (status.api_url === null) throw apiOffError(status.pid);
      return { status, url: (await c.call('api.dashboard_login', {})).url };
    });
    const opener = args.print ? null : browserOpener(args.io.env);
    if (opener && (await open(opener, url))) {
      args.io.err(`globus-timer: opened the dashboard at ${status.api_url}/ in your browser`);
      return;
    }
    if (args.format === 'json') args.io.out(toJson({ url }));
    else {
      args.io.out(url);
      args.io.err('globus-timer: the link works once, within 5 minutes; run globus-timer dashboard again for another');
    }
  },
};
