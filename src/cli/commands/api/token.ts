import type { CommandModule } from 'yargs';
import { readApiToken } from '../../../auth/api-token.ts';
import { resolvePaths } from '../../../config/paths.ts';
import { ERROR_CODES, TimerError } from '../../../core/errors.ts';
import { EXAMPLE_API_ADDR } from '../../api-flag.ts';
import type { GlobalArgs } from '../../context.ts';
import { toJson } from '../../output.ts';

/**
 * `api token`: the REST API's bearer token, read from its file in the state directory
 * (0600; the daemon creates it the first time it starts with --api). Needs no daemon: a
 * script may fetch the token before the daemon is up, and the file is the only copy.
 */
export const tokenCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'token',
  describe: "Print the bearer token the daemon's REST API requires (Authorization: Bearer TOKEN)",
  handler: (args) => {
    const paths = resolvePaths(args.io.env);
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
