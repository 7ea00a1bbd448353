import type { CommandModule } from 'yargs';
import { checkScope } from '../../../core/scopes.ts';
import { InvalidInputError } from '../../../core/errors.ts';
import { checkActionUrl } from '../../../core/input.ts';
import type { SubmitJobParams } from '../../../contract/protocol.ts';
import { actionBodyFromFlags } from '../../action-body.ts';
import type { GlobalArgs } from '../../context.ts';
import { single, verbose } from '../../options.ts';
import { scheduleOptions, scheduleParamsFromFlags, type ScheduleFlags } from '../../schedule-flags.ts';
import { onFailureFromFlags, onFailureOptions, type OnFailureFlags } from '../../on-failure-flags.ts';

interface SubmitFlags extends ScheduleFlags, OnFailureFlags {
  'action-url': string;
  'action-body'?: string | undefined;
  'action-file'?: string | undefined;
  /** `--no-scope` gives false: the provider takes unauthenticated calls, ask it nothing. */
  scope?: string | false | undefined;
}

interface SubmitArgs extends GlobalArgs, SubmitFlags {
  verbose: boolean;
}

/**
 * Turn `job submit` flags into canonical RPC parameters. Every rule is checked here, so a
 * bad flag exits 2 before the daemon is asked; the daemon checks the same rules again.
 */
function submitParamsFromFlags(flags: SubmitFlags): SubmitJobParams {
  const callbackBody = actionBodyFromFlags(flags);
  if (callbackBody === undefined) throw new InvalidInputError('give the action body with --action-body JSON or --action-file PATH');
  const scope = scopeFromFlag(flags.scope);
  return {
    ...scheduleParamsFromFlags(flags),
    callback_url: checkActionUrl(flags['action-url']),
    callback_body: callbackBody,
    ...(scope !== undefined ? { scope } : {}),
    ...onFailureFromFlags(flags),
  };
}

/** undefined: read it from the provider (submitJob); null: no token at all (--no-scope). */
function scopeFromFlag(flag: string | false | undefined): string | null | undefined {
  if (flag === undefined) return undefined;
  if (flag === false) return null;
  return checkScope(flag);
}

/** `job submit --name … --interval|--cron … --action-url URL --action-body|--action-file …`: a job for any Action Provider. */
export const submitCommand: CommandModule<GlobalArgs, SubmitArgs> = {
  command: 'submit',
  describe: 'Submit a job that calls an Action Provider on a schedule',
  builder: (y) =>
    onFailureOptions(scheduleOptions(y))
      .option('action-url', {
        ...single('action-url'),
        type: 'string',
        demandOption: true,
        describe: "The Action Provider's run URL (https, or http to loopback)",
      })
      .option('action-body', { ...single('action-body'), type: 'string', describe: 'The run request without request_id, as JSON: {"body": {...}}' })
      .option('action-file', { ...single('action-file'), type: 'string', describe: 'Read the action body from this JSON file' })
      .conflicts('action-body', 'action-file')
      .option('scope', {
        ...single('scope'),
        type: 'string',
        describe: "Globus Auth scope for the action (default: the provider's globus_auth_scope; --no-scope: send no token)",
      })
      .option('verbose', verbose),
  handler: async (args) => {
    const params = submitParamsFromFlags(args);
    // Loaded on demand: Globus Auth and HTTP code stay off the path of `job list` and friends.
    const { submitJob } = await import('../../submit.ts');
    await submitJob(args, params);
  },
};
