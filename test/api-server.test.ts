/**
 * The REST API's door (issue 14, src/daemon/api/server.ts): the bearer token, route matching,
 * the body limit, JSON errors in the shapes the Globus SDKs read, slow clients cut off, and the
 * token file (src/auth/api-token.ts). Raw HTTP on 127.0.0.1, against the server with a small
 * route table of its own and against a real daemon process.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { request } from 'undici';
import { ensureApiToken, readApiToken } from '../src/auth/api-token.ts';
import { ALLOW_HTTP_TOKENS_ENV } from '../src/auth/token-rules.ts';
import { RpcClient } from '../src/contract/client.ts';
import { withoutPreloads } from '../src/daemon/api/thread.ts';
import { InvalidInputError, JobDeletedError, JobNotFoundError, RequestValidationError } from '../src/core/errors.ts';
import { MAX_API_BODY_BYTES, startApiServer, type ApiServer, type ApiTimeouts } from '../src/daemon/api/server.ts';
import { JsonChunks, type ApiRoute } from '../src/daemon/api/types.ts';
import { silentLogger } from '../src/log/logger.ts';
import { runCliProcess, startDaemonProcess, tempHome } from './support/env.ts';

const TOKEN = 'test-token-0123456789abcdefghijklmnopqrstuvw';
const ID = '3b0e8f0a-1111-4222-8333-444455556666';

/** What the streamed route saw: pieces made, timers that ran between them, whether it was ended. */
const streamed = { made: 0, ticksSeenAtLastPiece: -1, finished: false, ticks: 0 };

/** `n` pieces of `{"items": [...]}`, each a 1 KiB string; `fail` throws after the second. */
async function* pieces(n: number, fail: boolean): AsyncGenerator<string> {
  Object.assign(streamed, { made: 0, ticksSeenAtLastPiece: -1, finished: false, ticks: 0 });
  const tick = setInterval(() => streamed.ticks++, 0);
  try {
    yield '{"items":[';
    for (let i = 0; i < n; i++) {
      if (fail && i === 2) throw new Error('the store went away');
      streamed.made++;
      streamed.ticksSeenAtLastPiece = streamed.ticks;
      yield `${i === 0 ? '' : ','}"${'x'.repeat(1024)}"`;
    }
    yield ']}';
  } finally {
    clearInterval(tick);
    streamed.finished = true;
  }
}

/** Echoes what the server handed the route, and fails in every way a route can. */
const ROUTES: ApiRoute[] = [
  {
    method: 'GET',
    pattern: '/stream/:n',
    handle: (req) => ({ status: 200, body: new JsonChunks(pieces(Number(req.params.n), req.query.has('fail'))) }),
  },
  { method: 'GET', pattern: '/jobs/', handle: (req) => ({ status: 200, body: { jobs: [], query: Object.fromEntries(req.query) } }) },
  { method: 'POST', pattern: '/jobs/', handle: (req) => ({ status: 201, body: { got: req.body === undefined ? 'undefined' : req.body } }) },
  { method: 'GET', pattern: '/jobs/:job_id', handle: (req) => ({ status: 200, body: { job_id: req.params.job_id } }) },
  { method: 'DELETE', pattern: '/jobs/:job_id', handle: (req) => ({ status: 200, body: { job_id: req.params.job_id } }) },
  { method: 'POST', pattern: '/jobs/:job_id/pause', handle: (req) => ({ status: 200, body: { got: req.body === undefined ? 'undefined' : req.body } }) },
  {
    method: 'POST',
    pattern: '/fail/:how',
    handle: async (req) => {
      await Promise.resolve();
      switch (req.params.how) {
        case 'validation':
          throw new RequestValidationError([{ loc: ['body', 'start'], msg: 'field required', type: 'value_error.missing' }]);
        case 'input':
          throw new InvalidInputError('interval must be at least 1 second');
        case 'not-found':
          throw new JobNotFoundError(ID);
        case 'deleted':
          throw new JobDeletedError(ID);
        case 'circular': {
          const body: Record<string, unknown> = {};
          body.self = body;
          return { status: 200, body };
        }
        default:
          throw new Error('secret internals /home/x/db');
      }
    },
  },
];

async function serve(t: TestContext, timeouts?: Partial<ApiTimeouts>): Promise<ApiServer> {
  const server = await startApiServer({ addr: { host: '127.0.0.1', port: 0 }, token: TOKEN, routes: ROUTES, log: silentLogger(), timeouts });
  t.after(() => server.close());
  return server;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: unknown;
}

async function call(
  base: string,
  method: string,
  p: string,
  opts: { token?: string | null; body?: string | undefined; headers?: Record<string, string> | undefined } = {},
): Promise<Answer> {
  const token = opts.token === undefined ? TOKEN : opts.token;
  const headers: Record<string, string> = { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...opts.headers };
  const res = await request(`${base}${p}`, { method: method as 'GET', headers, body: opts.body ?? null });
  const text = await res.body.text();
  assert.equal(res.headers['content-type'], 'application/json', `${method} ${p}: JSON, whatever the status`);
  return { status: res.statusCode, headers: res.headers, json: text === '' ? undefined : JSON.parse(text) };
}

test('the token: 401 with a JSON body without it or with a wrong one, before any route is looked up', async (t) => {
  const { url } = await serve(t);
  for (const [what, headers] of [
    ['no header', {}],
    ['a wrong token', { authorization: 'Bearer wrong' }],
    ['a token one character short', { authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
    ['Basic auth', { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` }],
    ['the bare token', { authorization: TOKEN }],
  ] as const) {
    for (const p of ['/jobs/', '/nowhere']) {
      const a = await call(url, 'GET', p, { token: null, headers });
      assert.equal(a.status, 401, `${what} ${p}`);
      assert.equal(a.headers['www-authenticate'], 'Bearer');
      // Not kept alive for more tries: a stranger cannot sit on the server's connection slots.
      assert.equal(a.headers.connection, 'close', `${what} ${p}: the connection closes`);
      assert.equal((a.json as { code: string }).code, 'AuthenticationFailed');
      assert.match((a.json as { message: string }).message, /globus-timer api token/);
    }
  }
  // A body sent without the token is not read: 401, not 413 or 422.
  assert.equal((await call(url, 'POST', '/jobs/', { token: 'x', body: '{not json' })).status, 401);
  assert.equal(
    (await call(url, 'GET', '/jobs/', { token: null, headers: { authorization: `bearer  ${TOKEN}` } })).status,
    200,
    'the scheme is case-insensitive',
  );
});

test('routes: /jobs and /jobs/ alike, params decoded, query parsed and unknown params ignored, 404 and 405 as JSON', async (t) => {
  const { url } = await serve(t);
  for (const p of ['/jobs', '/jobs/', '/jobs/?order=submitted_at+asc&bogus=1']) {
    const a = await call(url, 'GET', p);
    assert.equal(a.status, 200, p);
  }
  assert.deepEqual((await call(url, 'GET', '/jobs/?order=submitted_at+asc&bogus=1')).json, { jobs: [], query: { order: 'submitted_at asc', bogus: '1' } });
  assert.deepEqual((await call(url, 'GET', `/jobs/${ID}`)).json, { job_id: ID });
  assert.deepEqual((await call(url, 'GET', `/jobs/${ID}/`)).json, { job_id: ID });
  assert.deepEqual((await call(url, 'GET', '/jobs/a%20b')).json, { job_id: 'a b' });

  for (const p of ['/', '/nowhere', '/jobs/x/y', '/jobs//pause', '/jobs/%zz', '//jobs']) {
    const a = await call(url, 'GET', p);
    assert.equal(a.status, 404, p);
    assert.match((a.json as { detail: string }).detail, /^Not Found/);
  }
  const wrong = await call(url, 'PUT', `/jobs/${ID}`);
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.allow, 'GET, DELETE');
  assert.match((wrong.json as { detail: string }).detail, /takes GET, DELETE/);
  assert.equal((await call(url, 'GET', `/jobs/${ID}/pause`)).status, 405);
});

test('bodies: none and Content-Length 0 are undefined, bad JSON and deep nesting 422 FastAPI-style, past the limit 413', async (t) => {
  const { url } = await serve(t);
  const echo = async (body?: string, headers?: Record<string, string>) => (await call(url, 'POST', `/jobs/${ID}/pause`, { body, headers })).json;
  assert.deepEqual(await echo(), { got: 'undefined' }, 'the SDK pauses with no body and no Content-Type');
  assert.deepEqual(await echo('', { 'content-type': 'application/json' }), { got: 'undefined' });
  assert.deepEqual(await echo('{}'), { got: {} });

  const bad = await call(url, 'POST', '/jobs/', { body: '{"name": ' });
  assert.equal(bad.status, 422);
  const [problem, ...rest] = (bad.json as { detail: { loc: string[]; msg: string; type: string }[] }).detail;
  assert.deepEqual(rest, []);
  assert.deepEqual(problem?.loc, ['body']);
  assert.equal(problem?.type, 'value_error.jsondecode');
  assert.match(problem?.msg ?? '', /^the body is not JSON/);

  const deep = await call(url, 'POST', '/jobs/', { body: `${'['.repeat(5_000)}${']'.repeat(5_000)}` });
  assert.equal(deep.status, 422);

  const declared = await call(url, 'POST', '/jobs/', { body: 'x'.repeat(MAX_API_BODY_BYTES + 1) });
  assert.equal(declared.status, 413);
  assert.match((declared.json as { detail: string }).detail, /larger than/);
  // Chunked, no Content-Length: counted as it arrives.
  const chunks = Readable.from(
    (function* () {
      for (let i = 0; i < 40; i++) yield Buffer.alloc(64 << 10, 0x20);
    })(),
  );
  const streamed = await request(`${url}/jobs/`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: chunks });
  assert.equal(streamed.statusCode, 413);
  await streamed.body.dump();
  // A body just under the limit is read (whitespace around a JSON value).
  assert.deepEqual(await echo(`${' '.repeat(MAX_API_BODY_BYTES - 10)}{}`), { got: {} });
  // And the server still answers after all that.
  assert.equal((await call(url, 'GET', '/jobs/')).status, 200);
});

test('errors: validation 422 detail[], other bad input 422, unknown or deleted job 404 in error.detail, a crash 500 without its text', async (t) => {
  const { url } = await serve(t);
  const fail = (how: string) => call(url, 'POST', `/fail/${how}`);
  const validation = await fail('validation');
  assert.equal(validation.status, 422);
  assert.deepEqual(validation.json, { detail: [{ loc: ['body', 'start'], msg: 'field required', type: 'value_error.missing' }] });
  const input = await fail('input');
  assert.equal(input.status, 422);
  assert.deepEqual(input.json, { detail: [{ loc: ['body'], msg: 'interval must be at least 1 second', type: 'value_error' }] });
  for (const how of ['not-found', 'deleted']) {
    const a = await fail(how);
    assert.equal(a.status, 404, how);
    const error = (a.json as { error: { code: string; detail: string; status: number } }).error;
    assert.equal(error.code, 'NOT_FOUND');
    assert.equal(error.status, 404);
    assert.match(error.detail, new RegExp(ID));
  }
  for (const how of ['crash', 'circular']) {
    const a = await fail(how);
    assert.equal(a.status, 500, how);
    assert.deepEqual(a.json, { error: { code: 'INTERNAL_ERROR', detail: 'internal error; see the daemon log', status: 500 } });
  }
  assert.equal((await call(url, 'GET', '/jobs/')).status, 200, 'a crashing route does not take the server down');
});

test('only loopback: startApiServer refuses any other address itself', async () => {
  for (const host of ['0.0.0.0', '192.168.1.10', '::', 'localhost']) {
    await assert.rejects(startApiServer({ addr: { host, port: 0 }, token: TOKEN, routes: ROUTES, log: silentLogger() }), /loopback only/, host);
  }
});

test('IPv6 loopback: [::1] is served, and the URL brackets it', async (t) => {
  const server = await startApiServer({ addr: { host: '::1', port: 0 }, token: TOKEN, routes: ROUTES, log: silentLogger() }).catch(
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRNOTAVAIL' || /no such address/.test(err.message)) return null;
      throw err;
    },
  );
  if (!server) return t.skip('no IPv6 loopback on this machine');
  t.after(() => server.close());
  assert.match(server.url, /^http:\/\/\[::1\]:\d+$/);
  assert.equal((await call(server.url, 'GET', '/jobs/')).status, 200);
});

/** A raw connection that writes `text` a byte every `everyMs`; resolves with what the server said and when it closed. */
function trickle(url: string, text: string, everyMs: number): Promise<{ reply: string; closedAfterMs: number; sentBytes: number }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const startedMs = performance.now();
    const sock = net.connect(Number(port), hostname);
    let reply = '';
    let sent = 0;
    const timer = setInterval(() => {
      if (sent < text.length && !sock.destroyed) sock.write(text[sent++]!);
    }, everyMs);
    sock.setEncoding('utf8').on('data', (d: string) => (reply += d));
    sock.on('error', () => {});
    sock.on('close', () => {
      clearInterval(timer);
      resolve({ reply, closedAfterMs: performance.now() - startedMs, sentBytes: sent });
    });
  });
}

test('slow clients are cut off: headers a byte at a time, a body a byte at a time, and a connection that says nothing', async (t) => {
  const { url } = await serve(t, { headersMs: 400, requestMs: 800, checkIntervalMs: 50 });
  const headers = `GET /jobs/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nX-Pad: ${'a'.repeat(200)}\r\n\r\n`;
  const slowHeaders = await trickle(url, headers, 20);
  assert.ok(slowHeaders.closedAfterMs < 2_000, `closed after ${slowHeaders.closedAfterMs} ms`);
  assert.ok(slowHeaders.sentBytes < headers.length, 'cut off before the headers were done');
  assert.match(slowHeaders.reply, /^HTTP\/1\.1 408/);
  assert.match(slowHeaders.reply, /Content-Type: application\/json\r\n[\s\S]*\r\n\r\n\{"detail":"Request Timeout: /);

  const post = `POST /jobs/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: 300\r\n\r\n{"a":"${'b'.repeat(290)}"}`;
  const slowBody = await trickle(url, post, 5);
  assert.ok(slowBody.closedAfterMs < 2_500, `closed after ${slowBody.closedAfterMs} ms`);
  assert.ok(slowBody.sentBytes < post.length, 'cut off before the body was done');

  const silent = await trickle(url, '', 1_000);
  assert.ok(silent.closedAfterMs < 2_000, `closed after ${silent.closedAfterMs} ms`);
  assert.equal((await call(url, 'GET', '/jobs/')).status, 200);
});

test('the token file: 43 base64url characters, 0600, kept across calls; a damaged one is replaced', (t) => {
  const { paths } = tempHome(t);
  assert.equal(readApiToken(paths.apiTokenFile), null, 'none yet');
  const token = ensureApiToken(paths.apiTokenFile);
  assert.match(token, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(fs.statSync(paths.apiTokenFile).mode & 0o777, 0o600);
  assert.equal(path.dirname(paths.apiTokenFile), path.dirname(paths.dbFile), 'beside the database');
  assert.equal(ensureApiToken(paths.apiTokenFile), token);
  assert.equal(readApiToken(paths.apiTokenFile), token);
  assert.deepEqual(
    fs.readdirSync(paths.dataDir).filter((n) => n.endsWith('.tmp')),
    [],
    'no temp file left',
  );
  fs.writeFileSync(paths.apiTokenFile, '');
  assert.equal(readApiToken(paths.apiTokenFile), null);
  const fresh = ensureApiToken(paths.apiTokenFile);
  assert.notEqual(fresh, token);
  fs.chmodSync(paths.apiTokenFile, 0o644);
  assert.equal(readApiToken(paths.apiTokenFile), fresh);
  assert.equal(fs.statSync(paths.apiTokenFile).mode & 0o777, 0o600, 'tightened when read');
  fs.rmSync(paths.apiTokenFile);
  fs.symlinkSync(path.join(paths.dataDir, 'elsewhere'), paths.apiTokenFile);
  assert.throws(() => ensureApiToken(paths.apiTokenFile), /symbolic link/);
});

async function daemonStatus(socketPath: string) {
  const client = await RpcClient.connect(socketPath);
  try {
    return await client.call('daemon.status', {});
  } finally {
    client.close();
  }
}

test('a real daemon with GLOBUS_TIMER_API_ADDR: status shows api_url, the token is kept across restarts and never logged', async (t) => {
  const { env, paths } = tempHome(t);
  const apiEnv = { ...env, GLOBUS_TIMER_API_ADDR: '127.0.0.1:0' };
  const first = await startDaemonProcess(t, apiEnv);
  const status = await daemonStatus(paths.socketPath);
  assert.match(status.api_url ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.notEqual(status.api_url, 'http://127.0.0.1:0', 'the bound port');
  const token = readApiToken(paths.apiTokenFile);
  assert.ok(token);
  assert.equal(fs.statSync(paths.apiTokenFile).mode & 0o777, 0o600);
  const listening = first.logLines().find((l) => l.msg === 'daemon listening');
  assert.equal(listening?.api, status.api_url);

  assert.equal((await call(status.api_url!, 'GET', '/jobs/', { token: 'wrong' })).status, 401);
  const ok = await call(status.api_url!, 'GET', '/jobs', { token });
  assert.equal(ok.status, 200, 'the token from the file is let in, to the real routes');
  assert.deepEqual((ok.json as { jobs: unknown[] }).jobs, []);
  assert.equal(await first.stop(), 0);
  // The daemon logged at debug (tempHome): requests are logged, the token and the header never.
  assert.ok(first.logLines().some((l) => l.msg === 'api request'));
  assert.ok(!first.log().includes(token), 'the token is not in the log');
  assert.ok(!/authorization/i.test(first.log()), 'no Authorization header in the log');

  const second = await startDaemonProcess(t, apiEnv);
  assert.equal(readApiToken(paths.apiTokenFile), token, 'the same token after a restart');
  const again = await daemonStatus(paths.socketPath);
  assert.notEqual((await call(again.api_url!, 'GET', '/jobs/', { token })).status, 401);
  assert.equal(await second.stop(), 0);

  const off = await startDaemonProcess(t, env);
  assert.equal((await daemonStatus(paths.socketPath)).api_url, null, 'off unless asked for');
  assert.equal(await off.stop(), 0);
});

test('a bad GLOBUS_TIMER_API_ADDR fails `daemon run` in one line, exit 1; a port in use too', async (t) => {
  // Without the test-only setting, whose warning would be a second line.
  const { [ALLOW_HTTP_TOKENS_ENV]: _, ...env } = tempHome(t).env;
  const refused = await runCliProcess(['daemon', 'run'], { ...env, GLOBUS_TIMER_API_ADDR: '0.0.0.0:8080' });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^globus-timer: invalid GLOBUS_TIMER_API_ADDR "0\.0\.0\.0:8080": the API listens on loopback only/);
  assert.equal(refused.stderr.trim().split('\n').length, 1);

  const busy = net.createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  t.after(() => busy.close());
  const port = (busy.address() as net.AddressInfo).port;
  const taken = await runCliProcess(['daemon', 'run'], { ...env, GLOBUS_TIMER_API_ADDR: `127.0.0.1:${port}` });
  assert.equal(taken.code, 1);
  assert.match(taken.stderr, new RegExp(`^globus-timer: cannot serve the API on http://127\\.0\\.0\\.1:${port}: the port is in use`));
  assert.equal(taken.stderr.trim().split('\n').length, 1);
});

test('a streamed answer (JsonChunks) is sent chunked, a piece at a time, with the event loop turning between pieces', async (t) => {
  const { url } = await serve(t);
  const res = await request(`${url}/stream/200`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['transfer-encoding'], 'chunked');
  assert.equal(res.headers['content-type'], 'application/json');
  const doc = JSON.parse(await res.body.text()) as { items: string[] };
  assert.equal(doc.items.length, 200);
  assert.ok(streamed.finished);
  // A 0-ms interval timer ran while the pieces were made: timers (due fires) are not held up for the whole answer.
  assert.ok(streamed.ticksSeenAtLastPiece >= 10, `only ${streamed.ticksSeenAtLastPiece} timer turns while 200 pieces were made`);
});

test('a streamed answer: a client that goes away ends it (no more pieces made), a failure mid-way cuts the connection; the server serves on', async (t) => {
  const { url } = await serve(t);
  const port = Number(new URL(url).port);
  // Read the head and a little, then hang up: far fewer than the 100,000 pieces are made.
  await new Promise<void>((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () =>
      sock.write(`GET /stream/100000 HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`),
    );
    sock.once('data', () => {
      sock.destroy();
      resolve();
    });
    sock.once('error', reject);
  });
  const deadline = Date.now() + 10_000;
  while (!streamed.finished && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.ok(streamed.finished, 'the pieces stopped after the client left');
  assert.ok(streamed.made < 100_000, `${streamed.made} pieces made for a client that had gone`);

  // A failure after the head went out: the body is cut short (the client sees an error, not a document).
  const res = await request(`${url}/stream/10?fail`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.statusCode, 200);
  await assert.rejects(res.body.text());
  assert.ok(streamed.finished);

  assert.equal((await call(url, 'GET', '/jobs/')).status, 200, 'served on');
});

/** Send `raw` on a fresh connection; resolves with all the server wrote until it closed. */
function rawExchange(base: string, raw: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(new URL(base).port), '127.0.0.1', () => sock.write(raw));
    let reply = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      reply += d;
    });
    sock.on('close', () => resolve(reply));
    sock.on('error', reject);
  });
}

test('requests node:http cannot parse are answered in JSON too (400, 431, 417), and the connection is closed', async (t) => {
  const { url } = await serve(t);
  const auth = `Authorization: Bearer ${TOKEN}\r\n`;
  const cases: [string, string | Buffer, number][] = [
    ['a request line that is not HTTP', 'HELLO THERE\r\n\r\n', 400],
    ['no Host header', `GET /jobs/ HTTP/1.1\r\n${auth}\r\n`, 400],
    ['a NUL in a header value', Buffer.from(`GET /jobs/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ab\u0000cd\r\n\r\n`), 400],
    ['a Content-Length that is not a number', `POST /jobs/ HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: abc\r\n\r\n{}`, 400],
    ['bad chunked framing', `POST /jobs/ HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`, 400],
    ['headers past 16 KiB', `GET /jobs/ HTTP/1.1\r\nHost: x\r\n${auth}X-Pad: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
    ['an Expect: it cannot meet', `GET /jobs/ HTTP/1.1\r\nHost: x\r\n${auth}Expect: coffee\r\n\r\n`, 417],
  ];
  for (const [what, raw, status] of cases) {
    const reply = await rawExchange(url, raw);
    const [head = '', body = ''] = reply.split('\r\n\r\n');
    assert.match(head, new RegExp(`^HTTP/1\\.1 ${status} `), `${what}: ${head}`);
    assert.match(head, /\r\nContent-Type: application\/json\r\n/i, `${what}: JSON`);
    assert.match(head, /\r\nConnection: close\r\n|\r\nConnection: close$/i, `${what}: closed`);
    assert.equal(typeof (JSON.parse(body) as { detail: unknown }).detail, 'string', `${what}: {"detail": "..."}`);
  }
  assert.equal((await call(url, 'GET', '/jobs/')).status, 200, 'served on');
});

test("the API thread gets the daemon's node options without its preloads (a bench's --import of a .ts file stopped the API from starting)", () => {
  assert.deepEqual(
    withoutPreloads([
      '--import',
      'tsx',
      '--cpu-prof',
      '--import=./bench/probe.ts',
      '-r',
      'x.cjs',
      '--max-old-space-size=64',
      '--require=y.cjs',
      '--loader',
      'l.mjs',
    ]),
    ['--cpu-prof', '--max-old-space-size=64'],
  );
  assert.deepEqual(withoutPreloads([]), []);
});
