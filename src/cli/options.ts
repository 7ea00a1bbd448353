import { InvalidInputError } from '../errors.ts';
import type { CliIo, GlobalArgs } from './context.ts';

/**
 * yargs turns an option given twice into an array, which no rule here expects; refuse it
 * as a usage error instead (`coerce` errors are reported like any other usage error).
 */
export function single(flag: string) {
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
