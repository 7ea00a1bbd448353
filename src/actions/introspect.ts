import { Ajv, type ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import { getGlobalDispatcher } from 'undici';
import { TimerError, ERROR_CODES, InvalidInputError } from '../core/errors.ts';
import { sendRequest } from '../http/request.ts';
import { providerBaseUrl } from './provider.ts';
import { checkScope } from '../core/scopes.ts';
import { redactUrl } from '../util/redact-url.ts';

/**
 * An Action Provider's introspection document (`GET <base>/`, reference globus-timer-cli.md
 * §3), read once per submit: its `globus_auth_scope` (the job's scope when none is given) and
 * its `input_schema` (what the action body is checked against before the job is made, so a
 * body the provider refuses fails now rather than at the first run).
 *
 * It is fetched with no token. Globus providers serve it publicly; a token would have to be
 * chosen before the scope is known, and the token rules (auth/token-rules.ts) allow a
 * Globus service's token only on that service's hosts: sending none keeps every host safe.
 */

/** Long enough for a slow provider when the job's scope depends on the answer. */
export const SCOPE_INTROSPECTION_TIMEOUT_MS = 15_000;
/** Only the body check depends on it, and that is best effort: a dead provider must not hold up the submit long. */
export const SCHEMA_INTROSPECTION_TIMEOUT_MS = 5_000;
const MAX_DOCUMENT_BYTES = 1 << 20;

export type Introspection = { kind: 'document'; base: string; doc: Record<string, unknown> } | { kind: 'unreadable'; base: string; why: string };

export async function fetchIntrospection(runUrl: string, timeoutMs: number): Promise<Introspection> {
  const base = providerBaseUrl(runUrl);
  const outcome = await sendRequest('GET', `${base}/`, { headers: {} }, { dispatcher: getGlobalDispatcher(), timeoutMs, maxResponseBytes: MAX_DOCUMENT_BYTES });
  if (outcome.kind === 'transport') return { kind: 'unreadable', base, why: outcome.message };
  if (outcome.httpStatus !== 200) return { kind: 'unreadable', base, why: `the introspection request answered ${outcome.httpStatus}` };
  const doc = outcome.json;
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return { kind: 'unreadable', base, why: 'the introspection document is not JSON' };
  return { kind: 'document', base, doc: doc as Record<string, unknown> };
}

/**
 * The Globus Auth scope the provider asks for (`globus_auth_scope`): what `job submit` uses
 * when no `--scope` is given. null when the provider names none (it takes unauthenticated
 * calls); throws when it cannot be read, since the job cannot be made without knowing.
 */
export function introspectedScope(intro: Introspection): string | null {
  const fail = (why: string) =>
    new TimerError(
      ERROR_CODES.SCOPE_DISCOVERY_FAILED,
      `cannot read the Globus Auth scope of ${redactUrl(intro.base)}/ (${why}); give it with --scope SCOPE, or --no-scope if the provider takes no token`,
    );
  if (intro.kind === 'unreadable') throw fail(intro.why);
  const scope = intro.doc.globus_auth_scope;
  if (scope === undefined || scope === null || scope === '') return null;
  if (typeof scope !== 'string') throw fail('globus_auth_scope is not a string');
  // A provider's text is checked like a user's --scope: it is printed, prompted for and
  // stored, so anything but a scope string (quotes, controls, several scopes) is refused.
  try {
    return checkScope(scope, 'globus_auth_scope');
  } catch (err) {
    throw fail((err as Error).message);
  }
}

/** The provider's `input_schema` when it has one (an object), else null. */
function inputSchemaOf(intro: Introspection): Record<string, unknown> | null {
  if (intro.kind === 'unreadable') return null;
  const schema = intro.doc.input_schema;
  return schema && typeof schema === 'object' && !Array.isArray(schema) ? (schema as Record<string, unknown>) : null;
}

/** Whether the schema names `key` among the body's top-level properties. */
function schemaListsKey(schema: Record<string, unknown>, key: string): boolean {
  const props = schema.properties;
  return Boolean(props && typeof props === 'object' && Object.hasOwn(props, key));
}

/**
 * A schema that the provider sends us is compiled fresh each submit (one per CLI process).
 * `strict: false`: providers' schemas carry keywords Ajv does not know (`title`, `format`s
 * of their own); those are ignored, not refused, since the check is a service to the user.
 */
function newAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: false, logger: false });
  (addFormats as unknown as (a: Ajv) => void)(ajv);
  return ajv;
}

/** `at body.DATA[0].source_path: must be string`, one per problem. */
function describe(e: ErrorObject): string {
  const path = e.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`))
    .join('');
  const p = e.params as Record<string, unknown>;
  const detail =
    e.keyword === 'additionalProperties'
      ? `${JSON.stringify(p.additionalProperty)} is not allowed`
      : e.keyword === 'required'
        ? `${JSON.stringify(p.missingProperty)} is required`
        : e.keyword === 'enum'
          ? `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`
          : (e.message ?? 'is not valid');
  return `body${path}: ${detail}`;
}

/**
 * The problems of an action body under the provider's input schema, one line each; empty
 * when it passes, and null when the schema cannot be used (Ajv cannot compile it: another
 * draft, a broken `$ref`), in which case nothing is known and nothing is refused.
 */
export function inputProblems(schema: Record<string, unknown>, body: unknown): string[] | null {
  let validate: ReturnType<Ajv['compile']>;
  try {
    // `$schema` names the draft the provider wrote in; Ajv's default class reads draft-07,
    // whose keywords most providers use, and would refuse to compile a schema naming another.
    const { $schema: _, $id: __, ...rest } = schema;
    validate = newAjv().compile(rest);
  } catch {
    return null;
  }
  if (validate(body)) return [];
  return [...new Set((validate.errors ?? []).map(describe))];
}

const MAX_PROBLEMS_SHOWN = 8;

/** Body keys that are sent only where the provider's input schema lists them, each with the flag that asked for it. */
export type SchemaOnlyKeys = Readonly<Record<string, string>>;

/**
 * The callback body to submit, checked against the provider's input schema (issue 15 item 6):
 * - a key of `schemaOnlyKeys` stays only when the schema lists it; dropping it is said in
 *   one line (`notices`), so a flag the user gave is never lost silently;
 * - a body the schema refuses is refused now, exit 2, with every problem on the one line.
 * No document, or no usable schema: the body goes as it is (only the schema-only keys are
 * dropped, since no provider was seen to take them).
 */
export function checkedCallbackBody(
  intro: Introspection,
  callbackBody: Record<string, unknown>,
  schemaOnlyKeys: SchemaOnlyKeys = {},
): { callbackBody: Record<string, unknown>; notices: string[] } {
  const schema = inputSchemaOf(intro);
  const body = callbackBody.body;
  const notices: string[] = [];
  let checked = callbackBody;
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const kept = { ...(body as Record<string, unknown>) };
    for (const [key, flag] of Object.entries(schemaOnlyKeys)) {
      if (!(key in kept) || (schema && schemaListsKey(schema, key))) continue;
      delete kept[key];
      notices.push(
        schema
          ? `globus-timer: ${flag} not sent: the provider's input schema at ${redactUrl(intro.base)}/ does not list ${key}`
          : `globus-timer: ${flag} not sent: the provider's input schema could not be read (${intro.kind === 'unreadable' ? intro.why : 'none in its introspection document'}), so it is not known to take ${key}`,
      );
    }
    checked = { ...callbackBody, body: kept };
  }
  if (schema) {
    const problems = inputProblems(schema, checked.body);
    if (problems && problems.length > 0) {
      // One line, kept readable: a body far off the schema names its first problems and a count.
      const shown = problems.slice(0, MAX_PROBLEMS_SHOWN).join('; ');
      const more = problems.length > MAX_PROBLEMS_SHOWN ? `; and ${problems.length - MAX_PROBLEMS_SHOWN} more` : '';
      throw new InvalidInputError(`the provider at ${redactUrl(intro.base)}/ would refuse this action body: ${shown}${more}`);
    }
  }
  return { callbackBody: checked, notices };
}
