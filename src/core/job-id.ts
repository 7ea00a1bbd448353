import { InvalidInputError } from './errors.ts';

/**
 * Job ids as users type them (SPEC §5; the original CLI parsed them as UUIDs). Pure, no
 * I/O: the CLI checks every id with it before any daemon is asked (a malformed one is exit
 * 2 and starts nothing), and the daemon's job.resolve parses the same way.
 *
 * Grammar, case-insensitive:
 * - a full id: a UUID, `3b0e8f2c-1d4a-4c6e-9f0a-5b7c2d1e8f90`, or its 32 hex digits without
 *   hyphens (as Python's uuid.UUID took them);
 * - a prefix of one: at least MIN_PREFIX_HEX_DIGITS hex digits, either the start of the
 *   hyphenated form (`3b0e`, `3b0e8f2c-1d`) or hex digits alone (`3b0e8f2c1d`).
 * Both are normalised to the hyphenated lower-case form in which ids are stored and
 * printed, so a prefix is matched as the start of that text.
 */

const MIN_PREFIX_HEX_DIGITS = 4;

const UUID_HEX_DIGITS = 32;
/** Where the hyphens of a UUID go, counted in hex digits before them (8-4-4-4-12). */
const HYPHEN_AFTER_HEX_DIGITS = [8, 12, 16, 20];
const HEX_ONLY = /^[0-9a-f]+$/;

export type JobIdRef =
  /** A full id, lower case and hyphenated. */
  | { kind: 'id'; id: string }
  /** The start of an id, lower case, hyphens in their places. */
  | { kind: 'prefix'; prefix: string };

/** Parse what a user typed for a job id; InvalidInputError (exit 2) names the grammar. */
export function parseJobId(text: string): JobIdRef {
  const typed = text.trim().toLowerCase();
  const hex = typed.replaceAll('-', '');
  const hyphenated = withHyphens(hex);
  // Hyphens only in their places (`3b0e8f2c-1d`, also `3b0e8f2c-`), or none at all.
  const hyphensFit = typed === hex || typed === hyphenated || (typed === `${hyphenated}-` && HYPHEN_AFTER_HEX_DIGITS.includes(hex.length));
  if (!HEX_ONLY.test(hex) || hex.length > UUID_HEX_DIGITS || !hyphensFit || hex.length < MIN_PREFIX_HEX_DIGITS) {
    const shown = text.length > 80 ? `${text.slice(0, 80)}…` : text;
    throw new InvalidInputError(
      `invalid job id ${JSON.stringify(shown)}: give the job's id, a UUID such as 3b0e8f2c-1d4a-4c6e-9f0a-5b7c2d1e8f90, ` +
        `or at least its first ${MIN_PREFIX_HEX_DIGITS} hex digits (list jobs with: globus-timer job list)`,
    );
  }
  return hex.length === UUID_HEX_DIGITS ? { kind: 'id', id: hyphenated } : { kind: 'prefix', prefix: hyphenated };
}

/** The text to match: a full id, or the prefix every matching id starts with. */
export function jobIdText(ref: JobIdRef): string {
  return ref.kind === 'id' ? ref.id : ref.prefix;
}

/** Hex digits with the UUID's hyphens put in (up to where the digits end). */
function withHyphens(hex: string): string {
  let out = '';
  let from = 0;
  for (const at of [...HYPHEN_AFTER_HEX_DIGITS, UUID_HEX_DIGITS]) {
    out += hex.slice(from, at);
    if (hex.length <= at) break;
    out += '-';
    from = at;
  }
  return out;
}
