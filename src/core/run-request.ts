import { createRequire } from 'node:module';
import type { ErrorObject, ValidateFunction } from 'ajv';

/**
 * The Action Provider run request schema, checked when a job is submitted or its action
 * body updated (issue 12 item 8), so a bad `label`, `deadline` or `release_after` is refused
 * at once (exit 2) instead of by the provider at the job's first run, maybe months later.
 *
 * ACTION_REQUEST_SCHEMA is globus/action-provider-tools
 * src/globus_action_provider_tools/action_request.yaml, converted to JSON (as in
 * shared/reference/action-provider-tools/action_request.schema.json); Copyright Globus,
 * Apache License 2.0 (https://www.apache.org/licenses/LICENSE-2.0). Descriptions dropped;
 * nothing else changed.
 */
const ACTION_REQUEST_SCHEMA = {
  type: 'object',
  required: ['request_id', 'body'],
  additionalProperties: false,
  properties: {
    request_id: { type: 'string' },
    body: { type: 'object' },
    label: { type: 'string', minLength: 1, maxLength: 64 },
    monitor_by: { type: 'array', items: { $ref: '#/components/schemas/PrincipalURN' }, uniqueItems: true },
    manage_by: { type: 'array', items: { $ref: '#/components/schemas/PrincipalURN' }, uniqueItems: true },
    allowed_clients: { type: 'array', items: { $ref: '#/components/schemas/AllowedClients' } },
    deadline: { type: 'string', format: 'date-time' },
    release_after: { $ref: '#/components/schemas/ISO8601_duration' },
  },
  components: {
    schemas: {
      PrincipalURN: {
        type: 'string',
        pattern: '^urn:globus:(auth:identity|groups:id):([a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12})$',
      },
      ISO8601_duration: {
        type: 'string',
        pattern:
          '^P(?!$)(\\d+(?:\\.\\d+)?Y)?(\\d+(?:\\.\\d+)?M)?(\\d+(?:\\.\\d+)?W)?(\\d+(?:\\.\\d+)?D)?(T(?=\\d)(\\d+(?:\\.\\d+)?H)?(\\d+(?:\\.\\d+)?M)?(\\d+(?:\\.\\d+)?S)?)?$',
      },
      AllowedClients: { type: 'string', pattern: '^(public|globus|creator|.$)$' },
    },
  },
} as const;

/** What each named rule of the schema means, for the error line. */
const RULE_TEXT: Record<string, string> = {
  PrincipalURN: 'a principal URN, urn:globus:auth:identity:<uuid> or urn:globus:groups:id:<uuid>',
  ISO8601_duration: 'an ISO 8601 duration such as P30D or PT12H',
  AllowedClients: 'public, globus, creator or a single character',
};

let validator: ValidateFunction | undefined;

/**
 * The compiled schema, built on first use: ajv costs tens of milliseconds to load and
 * compile, and only `job submit`/`job update` (and the daemon) check an action body. Loaded
 * with require so that the CLI bundle keeps ajv external (scripts/build-cli.mjs) and off
 * every other command's start-up path. `request_id` is not required here: the daemon adds
 * it to each run (input.ts refuses one in the body).
 */
function validate(): ValidateFunction {
  if (validator) return validator;
  const require = createRequire(import.meta.url);
  const { Ajv } = require('ajv') as typeof import('ajv');
  const addFormats = require('ajv-formats') as { default: (ajv: InstanceType<typeof Ajv>, formats: string[]) => unknown };
  // strict off: the schema keeps its named rules under `components`, an OpenAPI habit ajv does not know.
  const ajv = new Ajv({ strict: false, allErrors: false });
  addFormats.default(ajv, ['date-time']);
  return (validator = ajv.compile({ ...ACTION_REQUEST_SCHEMA, required: ['body'] }));
}

/** Why `value` is not a run request (one line naming the key and the rule), or null when it is one. */
export function runRequestProblem(value: Record<string, unknown>): string | null {
  const check = validate();
  if (check(value)) return null;
  const error = check.errors?.[0];
  return error ? describe(error, value) : 'it is not a valid run request';
}

/** `/monitor_by/1` → `"monitor_by"[1]`. */
function keyOf(instancePath: string): string {
  const [key = '', ...rest] = instancePath.split('/').slice(1);
  return `${JSON.stringify(key)}${rest.map((i) => `[${i}]`).join('')}`;
}

/** A value as the error line shows it: short, so the line stays one readable line. */
function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 100 ? `${text.slice(0, 97)}...` : text;
}

function valueAt(root: unknown, instancePath: string): unknown {
  return instancePath
    .split('/')
    .slice(1)
    .reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], root);
}

function describe(error: ErrorObject, root: Record<string, unknown>): string {
  const key = keyOf(error.instancePath);
  const value = valueAt(root, error.instancePath);
  const rule = /\/components\/schemas\/(\w+)\//.exec(error.schemaPath)?.[1];
  switch (error.keyword) {
    case 'minLength':
    case 'maxLength': {
      // `label` is the one key with a length rule.
      const { minLength, maxLength } = ACTION_REQUEST_SCHEMA.properties.label;
      return `${key} must be ${minLength} to ${maxLength} characters (got ${String(value).length})`;
    }
    case 'format':
      return `${key} must be a date-time with an offset, such as 2026-12-01T02:00:00Z (got ${shown(value)})`;
    case 'pattern':
      return `${key} must be ${rule ? RULE_TEXT[rule] : `text matching ${error.params.pattern}`} (got ${shown(value)})`;
    case 'type':
      return `${key} must be ${error.params.type === 'array' ? 'an array of strings' : `a ${error.params.type}`}${rule ? ` (${RULE_TEXT[rule]})` : ''} (got ${shown(value)})`;
    case 'uniqueItems':
      return `${key} lists the same entry twice (items ${error.params.j} and ${error.params.i})`;
    default:
      return `${key} ${error.message ?? 'is invalid'}`;
  }
}
