import { InvalidInputError } from './errors.ts';

/**
 * The rules of a job's failure hook (issue 16 item 5), shared by the CLI (flags, exit 2 before
 * the daemon is asked) and the daemon (job.submit / job.update, which checks them again).
 */

/**
 * What happens when a job's run ends FAILED or the job goes inactive, and again when it
 * recovers (daemon/notify): `command` is run with `/bin/sh -c` (null: none), `notify` shows a
 * desktop notification. Once per failure streak.
 */
export interface OnFailure {
  command: string | null;
  notify: boolean;
}

/** A change of it, as job.submit and job.update take it: a key left out is not given. */
export interface OnFailureChange {
  command?: string | null;
  notify?: boolean;
}

/** Longer is no command line anyone types; the limit keeps the job row and its document small. */
const MAX_COMMAND_CHARS = 4096;

/** A command for `/bin/sh -c`: not blank, no NUL (an argument cannot carry one), at most MAX_COMMAND_CHARS. */
export function checkOnFailureCommand(command: string, what = 'on_failure command'): string {
  if (command.trim() === '') throw new InvalidInputError(`invalid ${what}: give a shell command, e.g. 'mail -s "backup failed" me@example.org'`);
  if (command.includes('\0')) throw new InvalidInputError(`invalid ${what}: it contains a NUL character`);
  if (command.length > MAX_COMMAND_CHARS) throw new InvalidInputError(`invalid ${what}: ${command.length} characters, at most ${MAX_COMMAND_CHARS}`);
  return command;
}

/** A job's own setting from job.submit's `on_failure`; null when it sets neither (the daemon-wide default applies). */
export function onFailureOfSubmit(given: OnFailureChange | null | undefined): OnFailure | null {
  return normalized({ command: given?.command == null ? null : checkOnFailureCommand(given.command), notify: given?.notify ?? false });
}

/** A job's setting after job.update's `on_failure` (undefined: unchanged; null: cleared, each key given replaces). */
export function onFailureAfterUpdate(current: OnFailure | null, change: OnFailureChange | null | undefined): OnFailure | null {
  if (change === undefined) return current;
  if (change === null) return null;
  const command = change.command === undefined ? (current?.command ?? null) : change.command === null ? null : checkOnFailureCommand(change.command);
  return normalized({ command, notify: change.notify ?? current?.notify ?? false });
}

/** Neither a command nor a notification is no setting of the job's own. */
function normalized(o: OnFailure): OnFailure | null {
  return o.command === null && !o.notify ? null : o;
}
