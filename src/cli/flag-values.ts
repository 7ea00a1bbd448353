/**
 * yargs is lenient where a typo must not pass: it accepts `--dry-run=yes` (and then treats
 * anything but "true" as false: `daemon install --dry-run=yes` really wrote the units),
 * `-v=2`, `--encrypt-data=1` (submitted false), and a string option with no value at all
 * (`job list --format` ran with an empty format). This checks the raw command line against
 * the option types yargs knows for the command being run (`getOptions()`), so one rule
 * covers every command, present and future:
 * - a boolean option takes no value: `--flag=VALUE`, `-f=VALUE`, `-f2`, and the `--flag true`
 *   / `--flag false` that yargs would swallow are refused (write `--flag` or `--no-flag`);
 * - an option that takes a value (string, number, choices, array) must be given one.
 * Options with `nargs` and unknown names are left to yargs (which refuses them itself).
 */

/** The part of yargs' `getOptions()` this reads. */
export interface OptionTypes {
  key: Record<string, unknown>;
  alias: Record<string, string[]>;
  boolean: string[];
  count: string[];
  array: string[];
  narg: Record<string, number>;
  choices: Record<string, unknown[]>;
}

/** yargs-parser's negative number: a value, not an option, after an option that takes one. */
const NEGATIVE = /^-([0-9]+(\.[0-9]+)?|\.[0-9]+)$/;

type Kind = 'boolean' | 'value' | 'other';

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

class Options {
  readonly #canonical = new Map<string, string>();
  readonly #types: OptionTypes;

  constructor(types: OptionTypes) {
    this.#types = types;
    // yargs lists aliases among the keys too (`v` beside `verbose`): aliases first.
    for (const [key, aliases] of Object.entries(types.alias)) {
      for (const a of [key, ...aliases]) if (!this.#canonical.has(a)) this.#canonical.set(a, key);
    }
    for (const key of Object.keys(types.key)) if (!this.#canonical.has(key)) this.#canonical.set(key, key);
  }

  /** The option's own (first declared) name, or undefined for a name yargs does not know. */
  resolve(name: string): string | undefined {
    return this.#canonical.get(name) ?? this.#canonical.get(kebab(name));
  }

  #names(key: string): string[] {
    return [key, ...(this.#types.alias[key] ?? [])];
  }

  #in(list: string[], key: string): boolean {
    return this.#names(key).some((n) => list.includes(n));
  }

  kind(key: string): Kind {
    if (this.#in(this.#types.count, key)) return 'other';
    if (this.#names(key).some((n) => this.#types.narg[n] !== undefined)) return 'other';
    if (this.#in(this.#types.boolean, key)) return 'boolean';
    return 'value';
  }

  /** The long name to show (`verbose` for `-v`). */
  longName(key: string): string {
    return this.#names(key).find((n) => n.length > 1) ?? key;
  }

  choices(key: string): string[] {
    const all = this.#names(key).flatMap((n) => this.#types.choices[n] ?? []);
    return [...new Set(all.map(String))];
  }
}

/** `a`, `a or b`, `a, b or c`. */
export function orList(items: string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}

function takesNoValue(opts: Options, key: string, written: string): string {
  const long = opts.longName(key);
  const positive = written.startsWith('--') ? `--${long}` : `${written} (--${long})`;
  return `${written} takes no value: write ${positive} or --no-${long}`;
}

function needsValue(opts: Options, key: string, written: string): string {
  const choices = opts.choices(key);
  return `${written} needs a value${choices.length ? ` (${orList(choices)})` : ''}`;
}

/** A token after an option that takes a value is its value, unless it is itself an option. */
function isValue(next: string | undefined): boolean {
  return next !== undefined && (!next.startsWith('-') || NEGATIVE.test(next));
}

/** The first problem with the option values in `args`, as a one-line usage error, or null. */
export function flagValueProblem(args: readonly string[], types: OptionTypes): string | null {
  const opts = new Options(types);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = args[i + 1];
    if (arg === '--') break;
    if (!arg.startsWith('-') || arg === '-' || NEGATIVE.test(arg)) continue;

    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      const negated = name.startsWith('no-') && opts.resolve(name) === undefined ? opts.resolve(name.slice(3)) : undefined;
      if (negated !== undefined && opts.kind(negated) === 'boolean') {
        if (eq !== -1) return takesNoValue(opts, negated, `--${name}`);
        continue;
      }
      const key = opts.resolve(name);
      if (key === undefined) continue;
      const kind = opts.kind(key);
      if (kind === 'boolean' && (eq !== -1 || next === 'true' || next === 'false')) return takesNoValue(opts, key, `--${name}`);
      if (kind === 'value' && eq === -1 && !isValue(next)) return needsValue(opts, key, `--${name}`);
      continue;
    }

    // A short option or a cluster of them (`-av`), read as yargs-parser reads it: a letter
    // followed by `=`, a number or a non-word character takes the rest as its value.
    const letters = arg.slice(1);
    for (let j = 0; j < letters.length; j++) {
      const letter = letters[j]!;
      const key = opts.resolve(letter);
      const rest = letters.slice(j + 1);
      const last = rest === '';
      const hasValue = !last && (rest.startsWith('=') || /^-?\d+(\.\d*)?(e-?\d+)?$/.test(rest) || /^\W/.test(rest));
      if (key !== undefined) {
        const kind = opts.kind(key);
        if (kind === 'boolean' && (hasValue || (last && (next === 'true' || next === 'false')))) return takesNoValue(opts, key, `-${letter}`);
        if (kind === 'value' && !hasValue) {
          if (!last) return needsValue(opts, key, `-${letter}`);
          if (!isValue(next)) return needsValue(opts, key, `-${letter}`);
        }
        if (kind === 'value') break; // the rest of the cluster (or the next token) is its value
      }
      if (hasValue) break;
    }
  }
  return null;
}
