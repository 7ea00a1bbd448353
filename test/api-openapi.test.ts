/**
 * GET /openapi.json (issue 14): an OpenAPI 3.1 document of exactly the routes the daemon
 * serves, from the schemas that validate the requests. Checked: its structure, every $ref
 * resolves and every schema compiles (ajv, JSON Schema 2020-12, strict), its paths are the
 * route list, its request schemas are the validating objects, the real documents and error
 * bodies match its response schemas, and a real daemon serves it behind the token.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { request } from 'undici';
import { readApiToken } from '../src/auth/api-token.ts';
import { RpcClient } from '../src/contract/client.ts';
import { OPENAPI_PATH, openApiDocument, openApiPath, withOpenApi, type OpenApiDocument } from '../src/daemon/api/openapi.ts';
import { timersApiRoutes } from '../src/daemon/api/routes.ts';
import { apiJobs } from '../src/daemon/api/jobs.ts';
import { bodyOf } from './support/api.ts';
import { JOB_UPDATE_SCHEMA, RESUME_SCHEMA, TIMER_JOB_SCHEMA, V2_TIMER_CREATE_SCHEMA } from '../src/daemon/api/schemas.ts';
import type { ApiMethod, ApiRoute } from '../src/daemon/api/types.ts';
import { JobService } from '../src/daemon/jobs/job-service.ts';
import { openDb } from '../src/daemon/store/open.ts';
import { FakeClock } from './support/clock.ts';
import { startDaemonProcess, tempHome, testConfig } from './support/env.ts';

const BASE = 'http://127.0.0.1:8080';
const METHODS: ApiMethod[] = ['GET', 'POST', 'PATCH', 'DELETE'];
type Json = Record<string, unknown>;

/** The daemon's route list (daemon.ts), over a real store. */
function served(t: TestContext): {
  routes: ApiRoute[];
  call: (method: ApiMethod, pattern: string, opts?: { id?: string; body?: unknown }) => Promise<unknown>;
} {
  const { paths } = tempHome(t);
  const db = openDb(paths.dbFile);
  t.after(() => db.$client.close());
  const clock = new FakeClock(Date.parse('2026-01-01T00:00:00Z'));
  const service = new JobService({ db, clock, config: testConfig(), onScheduleChange: () => {} });
  const routes = withOpenApi(timersApiRoutes({ jobs: apiJobs(service), env: {}, now: () => clock.now() }), () => BASE);
  const call = async (method: ApiMethod, pattern: string, opts: { id?: string; body?: unknown } = {}) => {
    const route = routes.find((r) => r.method === method && r.pattern === pattern);
    assert.ok(route, `no route ${method} ${pattern}`);
    const res = await route.handle({
      method,
      path: pattern,
      params: opts.id === undefined ? {} : { job_id: opts.id },
      query: new URLSearchParams(),
      body: opts.body,
    });
    return bodyOf(res.body);
  };
  return { routes, call };
}

/** Every `$ref` in `node`, with where it is. */
function refsOf(node: unknown, at = '#'): { at: string; ref: string }[] {
  if (node === null || typeof node !== 'object') return [];
  return Object.entries(node).flatMap(([k, v]) => (k === '$ref' && typeof v === 'string' ? [{ at, ref: v }] : refsOf(v, `${at}/${k}`)));
}

function resolve(doc: unknown, ref: string): unknown {
  assert.match(ref, /^#\//, `${ref}: only local refs`);
  return ref
    .slice(2)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>((node, key) => (node !== null && typeof node === 'object' ? (node as Json)[key] : undefined), doc);
}

const OAS_ID = 'https://globus-timer.invalid/openapi.json';

/** ajv (2020-12, strict) with the document's component schemas, reachable as `#/components/schemas/X` is in the document. */
function ajvFor(doc: OpenApiDocument) {
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
  ajv.addFormat('uuid', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
  const rewrite = (node: unknown): unknown =>
    Array.isArray(node)
      ? node.map(rewrite)
      : node !== null && typeof node === 'object'
        ? Object.fromEntries(
            Object.entries(node).map(([k, v]) => [k, k === '$ref' ? String(v).replace('#/components/schemas/', `${OAS_ID}#/$defs/`) : rewrite(v)]),
          )
        : node;
  ajv.addSchema({ $id: OAS_ID, $defs: rewrite(doc.components.schemas) as object });
  return { ajv, compile: (schema: unknown) => ajv.compile(rewrite(schema) as object) };
}

/** A minimal structural schema of an OpenAPI 3.1 document: what this one must have. */
const OPENAPI_STRUCTURE = {
  type: 'object',
  required: ['openapi', 'info', 'paths', 'components'],
  properties: {
    openapi: { const: '3.1.0' },
    info: { type: 'object', required: ['title', 'version'], properties: { title: { type: 'string' }, version: { type: 'string', minLength: 1 } } },
    servers: { type: 'array', items: { type: 'object', required: ['url'], properties: { url: { type: 'string' } } } },
    paths: {
      type: 'object',
      propertyNames: { pattern: '^/' },
      additionalProperties: {
        type: 'object',
        propertyNames: { enum: ['get', 'post', 'patch', 'delete', 'parameters', 'summary'] },
        additionalProperties: {
          type: 'object',
          required: ['summary', 'operationId', 'responses'],
          properties: {
            summary: { type: 'string', minLength: 1 },
            operationId: { type: 'string' },
            parameters: {
              type: 'array',
              items: { type: 'object', required: ['name', 'in', 'schema'], properties: { in: { enum: ['path', 'query'] } } },
            },
            requestBody: { type: 'object', required: ['content'] },
            responses: {
              type: 'object',
              minProperties: 1,
              propertyNames: { pattern: '^[1-5][0-9][0-9]$' },
              additionalProperties: {
                anyOf: [
                  { type: 'object', required: ['$ref'] },
                  { type: 'object', required: ['description'] },
                ],
              },
            },
          },
        },
      },
    },
    components: { type: 'object', required: ['schemas', 'securitySchemes'] },
  },
};

/** An operation's request body schema (a $ref). */
function requestSchemaOf(op: unknown): unknown {
  const body = (op as Json).requestBody as { content: Record<string, { schema: unknown }> };
  return body.content['application/json']!.schema;
}

function schemaOfResponse(doc: OpenApiDocument, at: unknown): unknown {
  const r = (at as Json).$ref ? resolve(doc, (at as Json).$ref as string) : at;
  return ((r as Json).content as Json)['application/json'] && (((r as Json).content as Json)['application/json'] as Json).schema;
}

test('the document: OpenAPI 3.1 in structure, every $ref resolves, every schema compiles (2020-12, strict)', (t) => {
  const { routes } = served(t);
  const doc = openApiDocument(routes, BASE);
  const structure = new Ajv2020({ allErrors: true }).compile(OPENAPI_STRUCTURE);
  assert.ok(structure(doc), JSON.stringify(structure.errors));
  assert.deepEqual(doc.servers, [{ url: BASE }]);
  assert.deepEqual(doc.components.securitySchemes.bearerToken, {
    type: 'http',
    scheme: 'bearer',
    description: 'The token from: globus-timer api token (file api-token beside the database)',
  });
  assert.deepEqual(doc.security, [{ bearerToken: [] }]);

  const refs = refsOf(doc);
  assert.ok(refs.length > 20);
  for (const { at, ref } of refs) assert.notEqual(resolve(doc, ref), undefined, `${at}: ${ref} resolves to nothing`);

  const { compile } = ajvFor(doc);
  for (const [name, schema] of Object.entries(doc.components.schemas)) assert.doesNotThrow(() => compile(schema), name);
  // The schemas where they are used: parameters, request bodies, responses.
  for (const [p, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item) as [string, Json][]) {
      for (const param of (op.parameters as Json[] | undefined) ?? []) {
        compile(param.schema);
        if (param.in === 'path') assert.ok(p.includes(`{${String(param.name)}}`), `${method} ${p}: ${String(param.name)} is in the path`);
      }
      if (op.requestBody) compile(requestSchemaOf(op));
      for (const [status, response] of Object.entries(op.responses as Json)) {
        const schema = schemaOfResponse(doc, response);
        assert.ok(schema, `${method} ${p} ${status}: a JSON schema`);
        compile(schema);
      }
    }
  }
  const ids = Object.values(doc.paths).flatMap((item) => Object.values(item).map((op) => (op as Json).operationId));
  assert.equal(new Set(ids).size, ids.length, 'operationIds are unique');
});

test('paths are exactly the served routes with their methods; a route without a description fails at start', (t) => {
  const { routes } = served(t);
  const doc = openApiDocument(routes, BASE);
  const described = Object.entries(doc.paths).flatMap(([p, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${p}`));
  const servedOps = routes.map((r) => `${r.method} ${openApiPath(r.pattern)}`);
  assert.deepEqual(described.sort(), servedOps.sort());
  assert.ok(servedOps.includes('GET /openapi.json'), 'itself');
  assert.ok(servedOps.includes('PATCH /jobs/{job_id}'));
  assert.throws(
    () => withOpenApi([...routes, { method: 'GET', pattern: '/secret', handle: () => ({ status: 200, body: null }) }], () => BASE),
    /describes no GET \/secret: add it to OPERATIONS/,
  );
});

test('request bodies are the very schema objects the server validates with', (t) => {
  const doc = openApiDocument(served(t).routes, BASE);
  const bodySchema = (p: string, m: 'post' | 'patch') => {
    return resolve(doc, (requestSchemaOf(doc.paths[p]![m]) as { $ref: string }).$ref);
  };
  assert.equal(bodySchema('/jobs/', 'post'), TIMER_JOB_SCHEMA);
  assert.equal(bodySchema('/v2/timer', 'post'), V2_TIMER_CREATE_SCHEMA);
  assert.equal(bodySchema('/jobs/{job_id}', 'patch'), JOB_UPDATE_SCHEMA);
  assert.equal(bodySchema('/jobs/{job_id}/resume', 'post'), RESUME_SCHEMA);
  assert.equal(((doc.paths['/jobs/{job_id}/resume']!.post as Json).requestBody as Json).required, false, 'resume takes no body too');
});

test('the documents the routes answer match the response schemas', async (t) => {
  const { routes, call } = served(t);
  const doc = openApiDocument(routes, BASE);
  const { compile } = ajvFor(doc);
  const check = (name: keyof OpenApiDocument['components']['schemas'], body: unknown) => {
    const v = compile(doc.components.schemas[name]);
    assert.ok(v(body), `${name}: ${JSON.stringify(v.errors)}\n${JSON.stringify(body)}`);
  };
  const job = (await call('POST', '/jobs/', {
    body: { callback_url: 'http://127.0.0.1:9/run', callback_body: { body: { a: 1 } }, start: '2026-01-01T00:10:00', interval: 90, name: 'n' },
  })) as Json;
  check('JobRead', job);
  const id = job.job_id as string;
  check('JobRead', await call('GET', '/jobs/:job_id', { id }));
  check('JobRead', await call('PATCH', '/jobs/:job_id', { id, body: { name: 'm' } }));
  check('Message', await call('POST', '/jobs/:job_id/pause', { id }));
  check('JobRead', await call('GET', '/jobs/:job_id', { id }));
  check('Message', await call('POST', '/jobs/:job_id/resume', { id, body: {} }));
  check('JobList', await call('GET', '/jobs/'));
  check(
    'TimerCreated',
    await call('POST', '/v2/timer', {
      body: {
        timer: {
          timer_type: 'flow',
          flow_id: '000a11ce-0000-4000-8000-000000000004',
          schedule: { type: 'recurring', interval_seconds: 600, start: '2030-01-01T00:00:00Z', end: { condition: 'iterations', count: 2 } },
          body: { body: { x: 1 } },
        },
      },
    }),
  );
  check('JobRead', await call('DELETE', '/jobs/:job_id', { id }));
  const self = await call('GET', OPENAPI_PATH);
  check('OpenAPI', self);
  assert.deepEqual(self, doc);
});

async function daemonApiUrl(socketPath: string): Promise<string> {
  const client = await RpcClient.connect(socketPath);
  try {
    const { api_url } = await client.call('daemon.status', {});
    assert.ok(api_url);
    return api_url;
  } finally {
    client.close();
  }
}

/** Bodies TIMER_JOB_SCHEMA rejects, for three different reasons. */
const REJECTED_TIMER_JOBS: [string, unknown][] = [
  ['callback_url and start missing', { callback_body: { body: {} } }],
  ['callback_body a string', { callback_url: 'http://127.0.0.1:9/run', callback_body: 'x', start: '2030-01-01T00:00:00Z', interval: 60 }],
  ['stop_after_n 0', { callback_url: 'http://127.0.0.1:9/run', callback_body: { body: {} }, start: '2030-01-01T00:00:00Z', interval: 60, stop_after_n: 0 }],
];

test('a real daemon serves it behind the token; its routes, methods and answers are the ones it describes', async (t) => {
  const { env, paths } = tempHome(t);
  const daemon = await startDaemonProcess(t, { ...env, GLOBUS_TIMER_API_ADDR: '127.0.0.1:0' });
  const url = await daemonApiUrl(paths.socketPath);
  const token = readApiToken(paths.apiTokenFile);
  assert.ok(token);
  const http = async (method: string, p: string, opts: { token?: string; body?: unknown } = {}) => {
    const res = await request(`${url}${p}`, {
      method: method as 'GET',
      headers: { authorization: `Bearer ${opts.token ?? token}`, ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: opts.body === undefined ? null : JSON.stringify(opts.body),
    });
    return { status: res.statusCode, json: (await res.body.json()) as Json };
  };

  const unauthorized = await http('GET', OPENAPI_PATH, { token: 'wrong' });
  assert.equal(unauthorized.status, 401, 'the token is needed, as for every route');
  const got = await http('GET', OPENAPI_PATH);
  assert.equal(got.status, 200);
  const doc = got.json as unknown as OpenApiDocument;
  assert.deepEqual(doc.servers, [{ url }], "the daemon's own base URL, with the bound port");
  const { compile } = ajvFor(doc);
  const schema = (name: keyof OpenApiDocument['components']['schemas']) => compile(doc.components.schemas[name]);
  assert.ok(schema('AuthenticationFailed')(unauthorized.json));

  // Every described method is served, every other method of a described path is 405 (Detail).
  const id = '3b0e8f0a-1111-4222-8333-444455556666';
  for (const [p, item] of Object.entries(doc.paths)) {
    const concrete = p.replace('{job_id}', id);
    for (const method of METHODS) {
      const a = await http(method, concrete, method === 'POST' || method === 'PATCH' ? { body: {} } : {});
      if (method.toLowerCase() in item) {
        assert.ok(![404, 405].includes(a.status) || (a.status === 404 && 'error' in a.json), `${method} ${p} is served (${a.status})`);
        if (a.status === 404) assert.ok(schema('Error')(a.json), `${method} ${p}: an unknown job is the Error schema`);
      } else {
        assert.equal(a.status, 405, `${method} ${p} is not served`);
        assert.ok(schema('Detail')(a.json));
      }
    }
  }
  const nowhere = await http('GET', '/v2/timer/x');
  assert.equal(nowhere.status, 404);
  assert.ok(schema('Detail')(nowhere.json));

  // Bodies the document's POST /jobs/ schema rejects are the ones the server answers 422.
  const v = compile(requestSchemaOf(doc.paths['/jobs/']!.post));
  for (const [what, body] of REJECTED_TIMER_JOBS) {
    assert.equal(v(body), false, `${what}: the schema rejects it`);
    const a = await http('POST', '/jobs/', { body });
    assert.equal(a.status, 422, what);
    assert.ok(schema('HTTPValidationError')(a.json), `${what}: ${JSON.stringify(a.json)}`);
  }
  assert.equal(await daemon.stop(), 0);
});
