/**
 * Globus Auth scope strings. A scope may carry dependent scopes in brackets, e.g.
 * `urn:globus:auth:scope:transfer.api.globus.org:all[*https://auth.globus.org/scopes/ID/data_access]`
 * (`*` marks a dependency as optional, which is how Globus spells data_access consents).
 * Token responses list only base scopes, so consent is matched on the base scope and the
 * full string is remembered as what the user agreed to.
 */
import { InvalidInputError } from './errors.ts';
import { shellQuote } from '../util/shell-quote.ts';

/** The Globus Transfer service scope: what the Transfer Action Provider acts with. */
export const TRANSFER_SCOPE = 'urn:globus:auth:scope:transfer.api.globus.org:all';

/** The Globus Timers service's scope (timers-api.md §1): what `--service hosted` calls it with. */
export const TIMERS_SCOPE = 'https://auth.globus.org/scopes/524230d7-ea86-4a52-8312-86065a9e0417/timer';

/** Identity scopes every login asks for: `session whoami` reads the user's name with them. */
export const IDENTITY_SCOPES = ['openid', 'profile', 'email'] as const;

/** The scope without its dependent scopes. */
export function baseScope(scope: string): string {
  const bracket = scope.indexOf('[');
  return (bracket === -1 ? scope : scope.slice(0, bracket)).trim();
}

/** The transfer scope with a `data_access` dependency per mapped collection (none: the plain scope). */
export function transferScope(dataAccessCollectionIds: readonly string[] = []): string {
  if (dataAccessCollectionIds.length === 0) return TRANSFER_SCOPE;
  const deps = dataAccessCollectionIds.map((id) => `*https://auth.globus.org/scopes/${id}/data_access`);
  return `${TRANSFER_SCOPE}[${deps.join(' ')}]`;
}

/** A scope string split into its base and its top-level dependencies (kept verbatim, nested ones included). */
export function parseScope(scope: string): { base: string; deps: string[] } {
  const text = scope.trim();
  const bracket = text.indexOf('[');
  if (bracket === -1 || !text.endsWith(']')) return { base: text, deps: [] };
  const deps: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text.slice(bracket + 1, -1)) {
    if (ch === '[') depth++;
    if (ch === ']') depth--;
    if (/\s/.test(ch) && depth === 0) {
      if (current) deps.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  if (current) deps.push(current);
  return { base: text.slice(0, bracket).trim(), deps };
}

export function formatScope(base: string, deps: readonly string[]): string {
  return deps.length ? `${base}[${deps.join(' ')}]` : base;
}

/** One scope per base, with the union of the dependencies asked for (a login asks for each once). */
export function mergeScopes(scopes: readonly string[]): string[] {
  const byBase = new Map<string, Set<string>>();
  for (const s of scopes) {
    const { base, deps } = parseScope(s);
    if (!base) continue;
    const set = byBase.get(base) ?? new Set<string>();
    for (const d of deps) set.add(d);
    byBase.set(base, set);
  }
  return [...byBase].map(([base, deps]) => formatScope(base, [...deps]));
}

/**
 * Whether consents (full scope strings) cover the dependencies of `scope`: every one of them
 * consented with the same base. The base itself is matched by the caller (lookupToken).
 */
export function coversScope(consented: readonly string[], scope: string): boolean {
  const wanted = parseScope(scope);
  const have = new Set(
    consented
      .map(parseScope)
      .filter((c) => c.base === wanted.base)
      .flatMap((c) => c.deps),
  );
  return wanted.deps.every((d) => have.has(d));
}

/**
 * The command a user runs to (re)gain consent for scopes. Each scope is one shell word
 * whatever it holds, and quoted even when plain, so that it stands apart from the prose
 * around it (`…:all', then run`).
 */
export function loginCommand(scopes: readonly string[]): string {
  return ['globus-timer session login', ...scopes.map((s) => `--scope ${shellQuote(s, { always: true })}`)].join(' ');
}

/** Real scopes, dependencies included, are a few hundred characters at most. */
export const MAX_SCOPE_LENGTH = 2048;

/**
 * What a scope string is made of: letters, digits and the URL punctuation real scopes use
 * (`urn:globus:auth:scope:…`, `https://auth.globus.org/scopes/<id>/…`, `openid`). No quotes,
 * `;`, `$`, backticks, backslashes, controls or other whitespace: a scope is printed in
 * command lines and sent in HTTP requests.
 */
const SCOPE_PUNCTUATION = ':/._-~%+=@,#?&';
/** The same as a character class body (`-` escaped, so it never forms a range). */
const SCOPE_WORD_CHARS = `A-Za-z0-9${SCOPE_PUNCTUATION.replace('-', '\\-')}`;
/** Besides those: `[`, `]`, `*` and the space between dependent scopes. */
const NOT_SCOPE_CHAR = new RegExp(`[^${SCOPE_WORD_CHARS}[\\]* ]`);
const SCOPE_TOKEN = new RegExp(`[${SCOPE_WORD_CHARS}]+|[[\\]*]| +`, 'g');

type ScopeToken = 'start' | 'word' | '[' | ']' | '*' | ' ';

/**
 * Check the syntax of one Globus Auth scope string and return it trimmed:
 *
 *     scope := word [ "[" " "* dep ( " "+ dep )* " "* "]" ]
 *     dep   := [ "*" ] scope          ("*": the dependency is optional)
 *     word  := 1*( letter / digit / one of :/._~%+=@,#?&- )
 *
 * so `urn:globus:auth:scope:transfer.api.globus.org:all[*https://auth.globus.org/scopes/ID/data_access]`
 * passes and `x' ; touch /tmp/x ; echo '` does not. The problem is named in one line.
 */
export function checkScope(text: string, what = '--scope'): string {
  const scope = text.trim();
  const problem = scopeProblem(scope, what);
  if (problem) {
    const shown = scope.length > 100 ? `${scope.slice(0, 100)}…` : scope;
    throw new InvalidInputError(`invalid ${what} ${JSON.stringify(shown)}: ${problem}`);
  }
  return scope;
}

function describeChar(ch: string): string {
  return /[!-~]/.test(ch) ? JSON.stringify(ch) : `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

function scopeProblem(scope: string, what: string): string | null {
  if (!scope) return 'give a Globus Auth scope string, e.g. urn:globus:auth:scope:transfer.api.globus.org:all';
  if (scope.length > MAX_SCOPE_LENGTH) return `it is longer than ${MAX_SCOPE_LENGTH} characters`;
  const bad = NOT_SCOPE_CHAR.exec(scope);
  if (bad) return `${describeChar(bad[0])} cannot be part of a scope (letters, digits and ${SCOPE_PUNCTUATION} only; dependent scopes go in [ ])`;
  let depth = 0;
  let prev: ScopeToken = 'start';
  for (const token of scope.match(SCOPE_TOKEN) ?? []) {
    const kind: ScopeToken = token === '[' || token === ']' || token === '*' ? token : token[0] === ' ' ? ' ' : 'word';
    const problem = tokenProblem(kind, prev, depth, what);
    if (problem) return problem;
    if (kind === '[') depth++;
    if (kind === ']') depth--;
    prev = kind;
  }
  return depth > 0 ? "a '[' has no matching ']'" : null;
}

/** Whether `kind` may follow `prev` at bracket depth `depth` (see checkScope's grammar). */
function tokenProblem(kind: ScopeToken, prev: ScopeToken, depth: number, what: string): string | null {
  if (prev === '*' && kind !== 'word') return "a '*' must be followed by the dependent scope it marks optional";
  switch (kind) {
    case 'word':
      if (prev !== ']') return null;
      return depth === 0 ? "nothing may follow the ']' that closes the dependent scopes" : 'a space must separate dependent scopes';
    case '[':
      return prev === 'word' ? null : "a '[' must directly follow the scope whose dependencies it lists";
    case ']':
      if (depth === 0) return "a ']' has no matching '['";
      return prev === '[' ? 'empty brackets: list dependent scopes inside [ ], or leave the brackets out' : null;
    case '*':
      if (depth === 0) return "a '*' (optional) can only mark a dependent scope inside [ ]";
      return prev === '[' || prev === ' ' ? null : "a '*' must come right before a dependent scope";
    case ' ':
      return depth === 0 ? `a space outside [ ]: give one scope per ${what}` : null;
    default:
      return null;
  }
}
