import { orList } from './flag-values.ts';

/**
 * yargs' own usage errors, rewritten in our one-line style with a pointer to the `--help`
 * of the command they concern: `globus-timer frobnicate` says "unknown command
 * 'frobnicate'; see globus-timer --help", not "Unknown argument: frobnicate". yargs gives
 * them as bare strings (its locales/en.json, yargs 18), so they are matched by text, all
 * in YARGS_MESSAGES; one the table does not know keeps its words and still gets the
 * pointer. (No command at all is not an error: main.ts prints the help.)
 */

/** Where the parse stood when yargs failed: what a message is rewritten with. */
export interface UsageContext {
  /** The command path being parsed: `['job', 'submit']`. */
  commands: string[];
  /** The words on the command line that are not options (command names included). */
  positionals: string[];
  /** The positionals this command declares, in order (`job_id` for `job delete <job_id..>`). */
  declaredPositionals: string[];
  /** Whether this command has subcommands: a stray word there is an unknown command. */
  hasSubcommands: boolean;
  /** How many values each option with `nargs` (or `requiresArg`) takes. */
  narg: Record<string, number>;
}

type Rewrite = (match: RegExpMatchArray, c: UsageContext) => string;

const YARGS_MESSAGES: [RegExp, Rewrite][] = [
  [/^Not enough non-option arguments: got (\d+), need at least \d+$/, (m, c) => `missing ${missingPositionals(c, Number(m[1]))}`],
  [/^Too many non-option arguments: got \d+, maximum of (\d+)$/, (m) => `too many arguments: at most ${m[1]}`],
  [/^Missing required arguments?: (.+)$/, (m, c) => `missing ${andList(names(m[1]!).map((n) => shown(n, c)))}`],
  [/^Missing argument values?: (.+)$/, (m, c) => `${andList(names(m[1]!).map((n) => shown(n, c)))} needs a value`],
  [
    /^Unknown arguments?: (.+)$/,
    (m, c) =>
      names(m[1]!)
        .map((word) => unknownWord(word, c))
        .join('; '),
  ],
  [
    /^Unknown commands?: (.+)$/,
    (m, c) =>
      names(m[1]!)
        .map((word) => `unknown command '${commandText(c, word)}'`)
        .join('; '),
  ],
  [/^Did you mean (.+)\?$/, (m, c) => `unknown command '${commandText(c, unknownCommandWord(c))}' (did you mean '${commandText(c, m[1]!)}'?)`],
  [/^Arguments (\S+) and (\S+) are mutually exclusive$/, (m, c) => `${shown(m[1]!, c)} and ${shown(m[2]!, c)} cannot be given together`],
  [/^Invalid values:\n([\s\S]+)$/, (m) => m[1]!.split('\n').map(invalidValue).join('; ')],
  [/^Not enough arguments following: (.+)$/, (m, c) => valuesNeeded(m[1]!, c)],
  [
    /^Missing dependent arguments:\n([\s\S]+)$/,
    (m, c) =>
      m[1]!
        .split('\n')
        .map((line) => dependent(line, c))
        .join('; '),
  ],
];

/** One line for a yargs usage message, ending with where to read more. */
export function describeUsageError(message: string, c: UsageContext): string {
  for (const [pattern, rewrite] of YARGS_MESSAGES) {
    const match = message.match(pattern);
    if (match) return `${rewrite(match, c)}; see ${helpCommand(c)}`;
  }
  return `${message}; see ${helpCommand(c)}`;
}

/** `globus-timer job submit --help`: the help of the command that failed. */
function helpCommand(c: UsageContext): string {
  return ['globus-timer', ...c.commands, '--help'].join(' ');
}

/** yargs lists names joined by ", " (a blank one in quotes). */
function names(list: string): string[] {
  return list.split(', ').map((n) => n.trim());
}

function andList(items: string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

/** How a name is written on the command line: `--name`, `-v`, or a positional as `JOB_ID`. */
function shown(name: string, c: UsageContext): string {
  if (c.declaredPositionals.includes(name)) return name.toUpperCase();
  return name.length === 1 ? `-${name}` : `--${name}`;
}

function missingPositionals(c: UsageContext, got: number): string {
  const missing = c.declaredPositionals.slice(got);
  return missing.length ? andList(missing.map((p) => shown(p, c))) : 'a command';
}

/** `job frob` for a word met where a command of `job` was expected. */
function commandText(c: UsageContext, word: string): string {
  return [...c.commands, word].join(' ');
}

/** The word yargs recommends a command for: the first one after the command path. */
function unknownCommandWord(c: UsageContext): string {
  return c.positionals[c.commands.length] ?? '';
}

/**
 * yargs names an unknown option and a stray word alike ("Unknown argument: bogus" for both
 * `--bogus` and `bogus`): a word among the positionals is one of those, anything else an option.
 */
function unknownWord(word: string, c: UsageContext): string {
  if (!c.positionals.includes(word)) return `unknown option ${shown(word.replace(/^"|"$/g, ''), c)}`;
  return c.hasSubcommands ? `unknown command '${commandText(c, word)}'` : `unexpected argument '${word}'`;
}

/** `Argument: format, Given: "xml", Choices: "text", "json"` → `--format must be text or json, not "xml"`. */
function invalidValue(line: string): string {
  const m = line.trim().match(/^Argument: (.+), Given: (.+), Choices: (.+)$/);
  if (!m) return line.trim();
  let choices: string[];
  try {
    choices = (JSON.parse(`[${m[3]}]`) as unknown[]).map(String);
  } catch {
    choices = [m[3]!];
  }
  return `--${m[1]} must be ${orList(choices)}, not ${m[2]}`;
}

/** yargs-parser's "Not enough arguments following: item" for an option with `nargs`. */
function valuesNeeded(name: string, c: UsageContext): string {
  // `requiresArg` is yargs' narg NaN: one value.
  const n = c.narg[name] ?? 1;
  return `${shown(name, c)} needs ${n > 1 ? `${n} values` : 'a value'}`;
}

/** `a -> b` (yargs `implies`): a needs b. */
function dependent(line: string, c: UsageContext): string {
  const [a, b] = line.trim().split(' -> ');
  return b === undefined ? line.trim() : `${shown(a!, c)} needs ${shown(b, c)}`;
}

/**
 * The parts of a yargs instance the context is read from at the moment it fails; the
 * command path and subcommands are internals, not in @types/yargs.
 */
interface FailingYargs {
  parsed: false | { argv: { _: (string | number)[] } };
  getGroups(): Record<string, string[]>;
  getOptions(): { narg: Record<string, number> };
  getInternalMethods(): { getContext(): { commands: string[] }; getCommandInstance(): { getCommands(): string[] } };
}

/** `yargs`: the instance that failed (an `Argv`, whose type has none of these internals; as completion.ts reads them). */
export function usageContext(yargs: object): UsageContext {
  const y = yargs as FailingYargs;
  const internal = y.getInternalMethods();
  return {
    commands: [...internal.getContext().commands],
    positionals: y.parsed ? y.parsed.argv._.map(String) : [],
    declaredPositionals: y.getGroups()['Positionals:'] ?? [],
    hasSubcommands: internal.getCommandInstance().getCommands().length > 0,
    narg: y.getOptions().narg,
  };
}
