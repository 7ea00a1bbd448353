import type { CommandModule } from 'yargs';
import { apiOffError } from '../../api-flag.ts';
import { withDaemon, type GlobalArgs } from '../../context.ts';
import { toJson } from '../../output.ts';

/**
 * `api url`: the base URL of the daemon's Timers REST API, as the daemon reports it (the
 * port it bound, also with `--api 127.0.0.1:0`). A daemon without the API is exit 1 saying
 * how to turn it on. Autostarts like the job commands: a daemon it starts serves the API
 * when GLOBUS_TIMER_API_ADDR says so.
 */
export const urlCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'url',
  describe: "Print the base URL of the daemon's Globus Timers REST API (give it to globus-sdk or @globus/sdk)",
  handler: async (args) => {
    const status = await withDaemon(args, (c) => c.call('daemon.status', {}));
    const url = status.api_url;
    if (url === null) throw apiOffError(status.pid);
    args.io.out(args.format === 'json' ? toJson({ url }) : url);
  },
};
