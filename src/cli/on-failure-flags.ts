import type { Argv } from 'yargs';
import { checkOnFailureCommand, type OnFailureChange } from '../core/on-failure.ts';
import { single } from './options.ts';

/**
 * The failure hook flags of `job submit`, `job transfer` and `job update` (issue 16 item 5):
 * `--on-failure CMD` (`--no-on-failure`: none), `--notify` (`--no-notify`: none).
 */
export interface OnFailureFlags {
  /** `--no-on-failure` gives false. */
  'on-failure'?: string | false | undefined;
  notify?: boolean | undefined;
}

export function onFailureOptions<T>(b: Argv<T>) {
  return b
    .option('on-failure', {
      ...single('on-failure'),
      type: 'string',
      describe:
        'Shell command run (sh -c, in your home directory) when a run fails or the job stops, once per failure streak, and again when it recovers; GLOBUS_TIMER_* variables say what happened (--no-on-failure: none)',
    })
    .option('notify', { type: 'boolean', describe: 'Show a desktop notification then too (notify-send, or osascript on macOS; --no-notify: no)' });
}

/** The flags as job.submit's / job.update's `on_failure`; undefined when none is given (the job keeps what it has). */
export function onFailureFromFlags(flags: OnFailureFlags): { on_failure?: OnFailureChange } {
  const command = flags['on-failure'];
  const change: OnFailureChange = {};
  if (command === false) change.command = null;
  else if (command !== undefined) change.command = checkOnFailureCommand(command, '--on-failure');
  if (flags.notify !== undefined) change.notify = flags.notify;
  return Object.keys(change).length > 0 ? { on_failure: change } : {};
}
