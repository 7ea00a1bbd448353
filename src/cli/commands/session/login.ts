import type { CommandModule } from 'yargs';
import { checkScope } from '../../../core/scopes.ts';
import type { GlobalArgs } from '../../context.ts';
import { promptIo } from '../../options.ts';
import { toJson } from '../../output.ts';
import { safe } from '../../../util/printable.ts';

interface LoginArgs extends GlobalArgs {
  scope: string[];
  browser: boolean;
}

/** `session login [--scope S]... [--no-browser]`: the login flow; the tokens are kept for the daemon. */
export const loginCommand: CommandModule<GlobalArgs, LoginArgs> = {
  command: 'login',
  describe: 'Log in to Globus and consent to the scopes jobs need (tokens are kept for the daemon)',
  builder: (y) =>
    y
      .option('scope', { type: 'string', array: true, requiresArg: true, default: [] as string[], describe: 'Also consent to this scope (repeatable)' })
      .option('browser', {
        type: 'boolean',
        default: true,
        describe: 'Open the login page in a browser when one is available (--no-browser: only print the URL)',
      }),
  handler: async (args) => {
    const { io } = args;
    const scopes = args.scope.map((s) => checkScope(s));
    // Loaded on demand: Globus Auth and HTTP code stay off every other command's start-up path.
    const { login } = await import('../../session.ts');
    const json = args.format === 'json';
    const username = await login(promptIo(io, json), scopes, { browser: args.browser });
    io.out(json ? toJson({ logged_in: true, username }) : safe`Logged in as ${username}`);
  },
};
