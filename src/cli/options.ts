import { describeErrno } from '../util/errno-words.ts';
import { InvalidInputError } from '../core/errors.ts';
import type { CliIo, GlobalArgs } from './context.ts';
import { toJson } from './output.ts';

/**
 * yargs turns an option given twice into an array, which no rule here expects; refuse it
 * as a usage error instead (`coerce` errors are reported like any other usage error).
 *
 * `coerce` is typed optional (a wider type than the value, so sound): @types/yargs takes an
 * option's type from its coerce's return type before its `type` or `choices`, and this one
 * returns the value as given, so `choices: OVERLAP_POLICIES` must type it, not `string`.
 */
export function single(flag: string): { coerce?: (value: string | string[]) => string } {
  return {
    coerce: (value: string | string[]): string => {
      if (Array.isArray(value)) throw new InvalidInputError(`--${flag} was given more than once`);
      return value;
    },
  };
}

export const verbose = { alias: 'v', type: 'boolean', default: false, describe: 'Print the whole job document as JSON' } as const;

export function wantsJson(args: GlobalArgs & { verbose?: boolean }): boolean {
  return args.format === 'json' || args.verbose === true;
}

/**
 * The io for an interactive step inside a command (the login that `job submit` may start):
 * with JSON output its text goes to stderr, so stdout stays one JSON document.
 */
export function promptIo(io: CliIo, json: boolean): CliIo {
  return json ? { ...io, out: io.err } : io;
}

/**
 * What a command prints as JSON: `--format json` its documented shape (README, "JSON
 * output"), `-v` the job document(s), as every command of the original CLI did. Null: print text.
 */
export function jsonOutput(args: GlobalArgs & { verbose?: boolean }, documented: unknown, jobDocument: unknown): string | null {
  if (args.format === 'json') return toJson(documented);
  if (args.verbose === true) return toJson(jobDocument);
  return null;
}

/**
 * JSON for a command that changes a job (pause, resume, run, update): `--format json` prints
 * the whole result, the job and what was done (`paused`, `resumed`, `run`, `reanchored`);
 * `-v` the job document.
 */
export function changedJobJson(args: GlobalArgs & { verbose?: boolean }, result: { job: unknown }): string | null {
  return jsonOutput(args, result, result.job);
}

/** Read the file a flag names (`--action-file`, `--items-file`); an unreadable one is a usage error naming the flag. */
export function readFlagFile(flag: string, file: string, readFile: (path: string) => string): string {
  try {
    return readFile(file);
  } catch (err) {
    const { code, message } = err as NodeJS.ErrnoException;
    throw new InvalidInputError(`cannot read --${flag} ${file}: ${describeErrno(code) ?? code ?? message}`);
  }
}

/** Ask a yes/no question at the terminal (`io.readLine`, prompt on stderr): yes only for y or yes, any case. */
export async function askYesNo(io: CliIo, question: string): Promise<boolean> {
  const answer = await io.readLine?.(`${question} [y/N] `);
  return /^\s*y(es)?\s*$/i.test(answer ?? '');
}
