/**
 * Globus Auth scope strings. A scope may carry dependent scopes in brackets, e.g.
 * `urn:globus:auth:scope:transfer.api.globus.org:all[*https://auth.globus.org/scopes/ID/data_access]`
 * (`*` marks a dependency as optional, which is how Globus spells data_access consents).
 * Token responses list only base scopes, so consent is matched on the base scope and the
 * full string is remembered as what the user agreed to.
 */

/** The Globus Transfer service scope: what the Transfer Action Provider acts with. */
export const TRANSFER_SCOPE = 'urn:globus:auth:scope:transfer.api.globus.org:all';

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
  const have = new Set(consented.map(parseScope).filter((c) => c.base === wanted.base).flatMap((c) => c.deps));
  return wanted.deps.every((d) => have.has(d));
}

/** The command a user runs to (re)gain consent for scopes. */
export function loginCommand(scopes: readonly string[]): string {
  return ['globus-timer session login', ...scopes.map((s) => `--scope '${s}'`)].join(' ');
}
