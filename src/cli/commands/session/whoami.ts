import type { CommandModule } from 'yargs';
import { ERROR_CODES, TimerError } from '../../../core/errors.ts';
import type { GlobalArgs, OutputFormat } from '../../context.ts';
import { formatTable, toJson } from '../../output.ts';
import { printable } from '../../../util/printable.ts';

/** The userinfo fields `whoami --format full|json` shows, as the original did. */
const WHOAMI_FIELDS = ['name', 'email', 'preferred_username', 'organization'] as const;

/** The original's --format brief|full|json: yargs adds these choices to the global text|json (text = brief). */
interface WhoamiArgs extends Omit<GlobalArgs, 'format'> {
  format: OutputFormat | 'brief' | 'full';
}

/** `session whoami [--format brief|full|json]`: the logged-in user, from the saved tokens. */
export const whoamiCommand: CommandModule<GlobalArgs, WhoamiArgs> = {
  command: 'whoami',
  describe: 'Print the logged-in user',
  builder: (y) =>
    y.option('format', { choices: ['brief', 'full'] as const, default: 'brief' as const, describe: 'Detail and format of the output: brief, full or json' }),
  handler: async (args) => {
    const { io, format } = args;
    const { currentUser, NOT_LOGGED_IN } = await import('../../session.ts');
    const info = await currentUser(io);
    if (!info) throw new TimerError(ERROR_CODES.AUTH_REQUIRED, NOT_LOGGED_IN);
    const pick = () => Object.fromEntries(WHOAMI_FIELDS.map((k) => [k, info[k] ?? null]));
    if (format === 'json') io.out(toJson(pick()));
    else if (format === 'full') io.out(formatTable([...WHOAMI_FIELDS], [WHOAMI_FIELDS.map((k) => String(info[k] ?? ''))]));
    else io.out(printable(String(info.preferred_username ?? info.sub)));
  },
};
