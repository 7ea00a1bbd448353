/**
 * Quoting for a POSIX shell, for every command line we print for the user to paste (the
 * service commands of `daemon install`, `session login --scope …`): a word of safe
 * characters stays bare unless `always`, anything else is single-quoted, where the shell
 * expands nothing, and a `'` inside becomes `'\''`. So text from elsewhere (a provider's
 * scope, a path) is always one inert word.
 */

const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

export function shellQuote(word: string, { always = false }: { always?: boolean } = {}): string {
  return !always && SHELL_SAFE.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
