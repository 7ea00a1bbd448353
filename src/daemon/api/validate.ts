import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { RequestValidationError, type ValidationProblem } from '../../core/errors.ts';

/**
 * Request bodies checked by their JSON Schemas (api/schemas.ts), problems answered in
 * FastAPI's words (`{loc: ['body', 'callback_url'], msg: 'field required', type:
 * 'value_error.missing'}`), which globus-sdk turns into `field required: body.callback_url`.
 */

const ajv = new Ajv({ allErrors: true, strict: false });
const compiled = new Map<object, ValidateFunction>();

function validatorOf(schema: object): ValidateFunction {
  let v = compiled.get(schema);
  if (!v) {
    v = ajv.compile(schema);
    compiled.set(schema, v);
  }
  return v;
}

/** The body, or RequestValidationError naming every problem. A missing body is `body: field required`. */
export function checkBody<T>(schema: object, body: unknown): T {
  if (body === undefined) throw new RequestValidationError([missing(['body'])]);
  const validate = validatorOf(schema);
  if (validate(body)) return body as T;
  throw new RequestValidationError(problemsOf(validate.errors ?? []));
}

export function missing(loc: ValidationProblem['loc']): ValidationProblem {
  return { loc, msg: 'field required', type: 'value_error.missing' };
}

export function invalid(loc: ValidationProblem['loc'], msg: string): ValidationProblem {
  return { loc, msg, type: 'value_error' };
}

/** Throws when there is any problem. */
export function throwProblems(problems: ValidationProblem[]): void {
  if (problems.length > 0) throw new RequestValidationError(problems);
}

function pathOf(instancePath: string): (string | number)[] {
  if (!instancePath) return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

const TYPE_WORDS: Record<string, string> = { string: 'str', integer: 'integer', number: 'float', object: 'dict', boolean: 'bool', array: 'list', null: 'none' };

function problemOf(e: ErrorObject): ValidationProblem {
  const loc = ['body', ...pathOf(e.instancePath)];
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return missing([...loc, String(p.missingProperty)]);
    case 'type': {
      const word = String(p.type).split(',')[0] ?? 'value';
      const fastapi = TYPE_WORDS[word] ?? word;
      return { loc, msg: `value is not a valid ${fastapi === 'dict' ? 'dict' : fastapi}`, type: `type_error.${fastapi}` };
    }
    case 'minimum':
      return { loc, msg: `ensure this value is greater than or equal to ${String(p.limit)}`, type: 'value_error.number.not_ge' };
    case 'maxLength':
      return { loc, msg: `ensure this value has at most ${String(p.limit)} characters`, type: 'value_error.any_str.max_length' };
    case 'minLength':
      return { loc, msg: `ensure this value has at least ${String(p.limit)} characters`, type: 'value_error.any_str.min_length' };
    case 'enum':
      return { loc, msg: `unexpected value; permitted: ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`, type: 'value_error.const' };
    case 'pattern':
      return { loc, msg: 'value is not a valid uuid', type: 'type_error.uuid' };
    case 'anyOf':
      return { loc, msg: 'value is not valid: give a date string or {"date": …, "n_runs": …}', type: 'value_error' };
    default:
      return invalid(loc, e.message ?? 'invalid value');
  }
}

/** One problem per place and kind; an anyOf's branch errors are summed up by the anyOf's own. */
function problemsOf(errors: ErrorObject[]): ValidationProblem[] {
  const seen = new Set<string>();
  const problems: ValidationProblem[] = [];
  for (const e of errors) {
    if (/\/anyOf\/\d+\//.test(e.schemaPath)) continue;
    const problem = problemOf(e);
    const key = JSON.stringify([problem.loc, problem.type]);
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(problem);
  }
  return problems;
}
