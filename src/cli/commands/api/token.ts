import type { Argv, CommandModule } from 'yargs';
import { readApiToken } from '../../../auth/api-token.ts';
import { resolvePaths } from '../../../config/paths.ts';
import { ERROR_CODES, TimerError } from '../../../core/errors.ts';
import { EXAMPLE_API_ADDR } from '../../api-flag.ts';
import { withDaemon, type GlobalArgs } from '../../context.ts';
import { toJson } from '../../output.ts';

interface TokenArgs extends GlobalArgs {
  rotate: boolean;
}

/**
 * `api token`: the REST API's bearer token, read from its file in the state directory
 * (0600; the daemon creates it the first time it starts with --api). Needs no daemon: a
 * script may fetch the token before the daemon is up, and the file is the only copy.
 *
 * `api token --rotate`: the daemon makes a new one (it holds the state lock, so it is the
 * only writer of the file) and its API takes only the new one from the next request on; the
 * old token, wherever it leaked to, is dead. Then the new one is printed, as without
 * --rotate, so `TOKEN=$(globus-timer api token --rotate)` works. It goes through the daemon
 * (started if need be) rather than writing the file here: a running daemon would otherwise
 * go on taking the old token until it restarts.
 */
export const tokenCommand: CommandModule<GlobalArgs, TokenArgs> = {
  command: 'token',
  describe: "Print the bearer token the daemon's REST API requires (Authorization: Bearer TOKEN)",
  builder: (y: Argv<GlobalArgs>): Argv<TokenArgs> =>
    y.option('rotate', { type: 'boolean', default: false, describe: 'Replace the token with a new one first: the old one stops working at once' }),
  handler: async (args) => {
    const paths = resolvePaths(args.io.env);
    if (args.rotate) {
      // An older daemon has no api.rotate_token: the client words that as "restart the daemon".
      const rotated = await withDaemon(args, (c) => c.call('api.rotate_token', {}));
      const where = rotated.api_url === null ? 'the API takes it when the daemon serves it' : `the API at ${rotated.api_url} takes only it from now on`;
      args.io.err(`globus-timer: new REST API token in ${rotated.token_file}; ${where}`);
    }
    const token = readApiToken(paths.apiTokenFile);
    if (token === null) {
      throw new TimerError(
        ERROR_CODES.API_OFF,
        `no REST API token in ${paths.apiTokenFile} yet: the daemon creates it when it starts with the API: globus-timer daemon start --api ${EXAMPLE_API_ADDR}`,
      );
    }
    args.io.out(args.format === 'json' ? toJson({ token }) : token);
  },
};
