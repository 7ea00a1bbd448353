import type { CommandModule } from 'yargs';
import { ERROR_CODES, TimerError } from '../../../core/errors.ts';
import type { GlobalArgs } from '../../context.ts';
import { toJson } from '../../output.ts';

/** `session revoke`: the saved tokens revoked at Globus Auth, then forgotten. */
export const revokeCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'revoke',
  describe: 'Revoke the saved Globus tokens at Globus Auth, then forget them',
  handler: async (args) => {
    const { revoke, NOT_LOGGED_IN } = await import('../../session.ts');
    let revoked: boolean;
    try {
      revoked = await revoke(args.io);
    } catch (err) {
      throw new TimerError(ERROR_CODES.AUTH_UNAVAILABLE, `Unable to revoke login: ${(err as Error).message}; the tokens are kept, run this command again`);
    }
    if (!revoked) throw new TimerError(ERROR_CODES.AUTH_REQUIRED, NOT_LOGGED_IN);
    args.io.out(args.format === 'json' ? toJson({ revoked: true }) : 'Successfully revoked permission for all Timer operations.');
  },
};
