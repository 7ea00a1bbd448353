import type { Argv } from 'yargs';
import { checkScope } from '../../core/scopes.ts';
import { ERROR_CODES, TimerError } from '../../core/errors.ts';
import type { CliIo, GlobalArgs } from '../context.ts';
import { promptIo } from '../options.ts';
import { formatTable, toJson } from '../output.ts';
import { printable, safe } from '../../util/printable.ts';

/** Loaded on demand: Globus Auth and HTTP code stay off every other command's start-up path. */
const session = () => import('../session.ts');

/** The userinfo fields `whoami --format full|json` shows, as the original did. */
const WHOAMI_FIELDS = ['name', 'email', 'preferred_username', 'organization'] as const;

/** `session login|whoami|logout|revoke`, with the original CLI's messages and exit codes. */
export function sessionCommands(io: CliIo) {
  return (y: Argv<GlobalArgs>) =>
    y
      .command(
        'login',
        'Log in to Globus and consent to the scopes jobs need (tokens are kept for the daemon)',
        (b) =>
          b
            .option('scope', { type: 'string', array: true, requiresArg: true, default: [] as string[], describe: 'Also consent to this scope (repeatable)' })
            .option('browser', { type: 'boolean', default: true, describe: 'Open the login page in a browser when one is available (--no-browser: only print the URL)' }),
        async (args) => {
          const scopes = (args.scope as string[]).map((s) => checkScope(s));
          const { login } = await session();
          const json = args.format === 'json';
          const username = await login(promptIo(io, json), scopes, { browser: args.browser });
          io.out(json ? toJson({ logged_in: true, username }) : safe`Logged in as ${username}`);
        },
      )
      .command(
        'whoami',
        'Print the logged-in user',
        // The original's --format brief|full|json: yargs adds these choices to the global text|json (text = brief).
        (b) => b.option('format', { choices: ['brief', 'full'] as const, default: 'brief' as const, describe: 'Detail and format of the output: brief, full or json' }),
        async (args) => {
          const { currentUser, NOT_LOGGED_IN } = await session();
          const info = await currentUser(io);
          if (!info) throw new TimerError(ERROR_CODES.AUTH_REQUIRED, NOT_LOGGED_IN);
          const format = args.format as string;
          const pick = () => Object.fromEntries(WHOAMI_FIELDS.map((k) => [k, info[k] ?? null]));
          if (format === 'json') io.out(toJson(pick()));
          else if (format === 'full') io.out(formatTable([...WHOAMI_FIELDS], [WHOAMI_FIELDS.map((k) => String(info[k] ?? ''))]));
          else io.out(printable(String(info.preferred_username ?? info.sub)));
        },
      )
      .command(
        'logout',
        'Forget the saved Globus tokens (the daemon then has none for your jobs)',
        (b) => b,
        async (args) => {
          const { logout } = await session();
          try {
            await logout(io);
          } catch (err) {
            throw new TimerError(ERROR_CODES.TOKEN_CACHE_INVALID, `Unable to remove stored tokens to perform the logout: ${(err as Error).message}`);
          }
          io.out(args.format === 'json' ? toJson({ logged_out: true }) : 'Successfully logged out.');
        },
      )
      .command(
        'revoke',
        'Revoke the saved Globus tokens at Globus Auth, then forget them',
        (b) => b,
        async (args) => {
          const { revoke, NOT_LOGGED_IN } = await session();
          let revoked: boolean;
          try {
            revoked = await revoke(io);
          } catch (err) {
            throw new TimerError(ERROR_CODES.AUTH_UNAVAILABLE, `Unable to revoke login: ${(err as Error).message}; the tokens are kept, run this command again`);
          }
          if (!revoked) throw new TimerError(ERROR_CODES.AUTH_REQUIRED, NOT_LOGGED_IN);
          io.out(args.format === 'json' ? toJson({ revoked: true }) : 'Successfully revoked permission for all Timer operations.');
        },
      );
}
