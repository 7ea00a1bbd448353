import type { CommandModule } from 'yargs';
import { ERROR_CODES, TimerError } from '../../../core/errors.ts';
import type { GlobalArgs } from '../../context.ts';
import { toJson } from '../../output.ts';

/** `session logout`: the saved tokens are forgotten (not revoked: `session revoke`). */
export const logoutCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'logout',
  describe: 'Forget the saved Globus tokens (the daemon then has none for your jobs)',
  handler: async (args) => {
    const { logout } = await import('../../session.ts');
    try {
      await logout(args.io);
    } catch (err) {
      throw new TimerError(ERROR_CODES.TOKEN_CACHE_INVALID, `Unable to remove stored tokens to perform the logout: ${(err as Error).message}`);
    }
    args.io.out(args.format === 'json' ? toJson({ logged_out: true }) : 'Successfully logged out.');
  },
};
