/**
 * Shell completion: `globus-timer completion` prints the bash (or, under zsh, zsh) script;
 * the shell then calls `globus-timer --get-yargs-completions …`, which yargs answers from
 * the command tree alone: no handler runs, the daemon is never contacted.
 *
 * yargs' own `completion` command prints its script even for `completion --help`, so the
 * command is an ordinary one of ours (its help works like any other's), and yargs'
 * completion is registered, hidden, under a name of its own only to answer
 * `--get-yargs-completions` with completeWithNegations.
 */

/** The hidden name yargs' completion is registered under (typing it prints the script too). */
export const YARGS_COMPLETION_COMMAND = 'completion-script';

export const COMPLETION_DESCRIPTION = 'Print a bash/zsh completion script: source <(globus-timer completion)';

/**
 * String options whose `--no-` form means "none", by command: `job submit --no-scope`, a
 * provider that takes no token (`session login --scope` has no such form).
 */
const NEGATABLE_STRING_OPTIONS: Readonly<Record<string, readonly string[]>> = { 'job submit': ['scope'], 'job update': ['on-failure'] };

/** The part of yargs' `getOptions()` this reads: the options of the command being completed. */
interface CompletedOptions {
  key: Record<string, unknown>;
  boolean: string[];
  default: Record<string, unknown>;
}

/** What this uses of a yargs instance, beyond @types/yargs (which has neither signature). */
interface CompletingYargs {
  showCompletionScript($0: string, cmd: string): unknown;
  getOptions(): CompletedOptions;
}

/** The script, naming `completion` (not the hidden name) in its installation comment. */
export function printCompletionScript(y: object): void {
  (y as CompletingYargs).showCompletionScript('globus-timer', 'completion');
}

type Done = (err: Error | null, completions: string[] | undefined) => void;

/**
 * yargs completes `--no-X` only for a boolean that defaults to true, and only when the
 * parser configuration names `boolean-negation` (ours does not), so it offers none at all:
 * add them after each `--X` it offers, for those booleans (`--no-autostart`, `--no-browser`)
 * and for NEGATABLE_STRING_OPTIONS (`--no-scope` for `job submit`).
 */
export function completeWithNegations(yargs: () => object) {
  // Four parameters: yargs then passes its default completion to build on. The options are
  // read once it has run: yargs has then built the command being completed.
  return (_current: string, argv: { _: (string | number)[] }, defaultCompletion: (done: Done) => void, done: (completions: string[]) => void): void => {
    const negatableStrings = stringNegationsFor(argv._.map(String));
    defaultCompletion((_err, completions) => done(withNegations(completions ?? [], (yargs() as CompletingYargs).getOptions(), negatableStrings)));
  };
}

/** The command line's words (bash and zsh pass the program name first, fish does not) name the command. */
function stringNegationsFor(words: string[]): readonly string[] {
  const line = ` ${words.join(' ')} `;
  return Object.entries(NEGATABLE_STRING_OPTIONS).flatMap(([command, keys]) => (line.includes(` ${command} `) ? keys : []));
}

function withNegations(completions: string[], opts: CompletedOptions, negatableStrings: readonly string[]): string[] {
  const negatable = (key: string) => key in opts.key && (negatableStrings.includes(key) || (opts.boolean.includes(key) && opts.default[key] === true));
  return completions.flatMap((completion) => {
    // `--scope`, or under zsh/fish `--scope:description` / `--scope\tdescription`.
    const m = completion.match(/^--([\w-]+)([:\t][\s\S]*)?$/);
    return m && negatable(m[1]!) ? [completion, `--no-${m[1]}${m[2] ?? ''}`] : [completion];
  });
}
