/**
 * The daemon's JSON-RPC server seen from a raw `net.connect` client: protocol errors,
 * parameter checking, hostile frames, concurrency, and the socket's lifecycle and modes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import test, { type TestContext } from 'node:test';
import { pino } from 'pino';
import { resolvePaths, type AppPaths } from '../src/config/paths.ts';
import { startDaemon, type Daemon } from '../src/daemon/daemon.ts';
import { ERROR_CODES } from '../src/core/errors.ts';
import { MAX_INTERVAL_SECONDS } from '../src/core/input.ts';
import { silentLogger, type Logger } from '../src/log/logger.ts';
import { RpcServer, type Handlers } from '../src/daemon/rpc-server.ts';
import type { JobDocument, JobPage, SubmitJobParams } from '../src/contract/protocol.ts';
import { MAX_FRAME_BYTES } from '../src/contract/protocol.ts';
import { runCliProcess, testConfig } from './support/env.ts';

interface RpcReply {
  jsonrpc: string;
  id: unknown;
  result?: unknown;
  error?: { code: number; message: string; data?: { code?: string } };
}

const WAIT_MS = 10_000;

/** A raw connection: write bytes, read newline-delimited replies one at a time. */
class RawConn {
  readonly sock: net.Socket;
  readonly closed: Promise<void>;
  #buf = '';
  #lines: string[] = [];
  #waiter: (() => void) | undefined;
  #isClosed = false;

  private constructor(sock: net.Socket) {
    this.sock = sock;
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      this.#buf += chunk;
      for (let i = this.#buf.indexOf('\n'); i !== -1; i = this.#buf.indexOf('\n')) {
        this.#lines.push(this.#buf.slice(0, i));
        this.#buf = this.#buf.slice(i + 1);
      }
      this.#waiter?.();
    });
    sock.on('error', () => {});
    this.closed = new Promise((resolve) =>
      sock.on('close', () => {
        this.#isClosed = true;
        this.#waiter?.();
        resolve();
      }),
    );
  }

  static open(socketPath: string): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(socketPath);
      sock.once('connect', () => {
        sock.off('error', reject);
        resolve(new RawConn(sock));
      });
      sock.once('error', reject);
    });
  }

  write(data: string | Buffer): void {
    this.sock.write(data);
  }

  /** The next reply line, parsed. */
  async next(): Promise<RpcReply> {
    const deadline = Date.now() + WAIT_MS;
    while (this.#lines.length === 0) {
      if (this.#isClosed) throw new Error('connection closed before a reply');
      if (Date.now() > deadline) throw new Error('no reply in time');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, WAIT_MS);
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#waiter = undefined;
    }
    return JSON.parse(this.#lines.shift()!) as RpcReply;
  }

  /** Send one line and read one reply. */
  async ask(line: string | object): Promise<RpcReply> {
    this.write((typeof line === 'string' ? line : JSON.stringify(line)) + '\n');
    return this.next();
  }

  close(): void {
    this.sock.destroy();
  }
}

/** One request on a fresh connection. */
async function rpc(socketPath: string, line: string | object): Promise<RpcReply> {
  const conn = await RawConn.open(socketPath);
  try {
    return await conn.ask(line);
  } finally {
    conn.close();
  }
}

let nextId = 1;
function request(method: string, params?: unknown): { jsonrpc: '2.0'; id: number; method: string; params?: unknown } {
  return params === undefined ? { jsonrpc: '2.0', id: nextId++, method } : { jsonrpc: '2.0', id: nextId++, method, params };
}

/** The result of a call that must succeed. */
async function call<T>(socketPath: string, method: string, params?: unknown): Promise<T> {
  const reply = await rpc(socketPath, request(method, params));
  assert.equal(reply.error, undefined, `${method} failed: ${JSON.stringify(reply.error)}`);
  return reply.result as T;
}

/** The daemon still answers on a new connection. */
async function assertAlive(socketPath: string): Promise<void> {
  const status = await call<{ pid: number }>(socketPath, 'daemon.status', {});
  assert.equal(status.pid, process.pid);
}

function shortHome(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'gt-'));
}

/** A daemon in a fresh home; stopped, then the home removed, after the test. */
async function daemonIn(t: TestContext, log: Logger = silentLogger()): Promise<{ daemon: Daemon; paths: AppPaths; env: NodeJS.ProcessEnv; home: string }> {
  const home = shortHome();
  const env: NodeJS.ProcessEnv = { ...process.env, GLOBUS_TIMER_HOME: home };
  const paths = resolvePaths(env);
  let daemon: Daemon;
  try {
    daemon = await startDaemon({ paths, config: testConfig(), log });
  } catch (err) {
    fs.rmSync(home, { recursive: true, force: true });
    throw err;
  }
  t.after(async () => {
    await daemon.stop();
    fs.rmSync(home, { recursive: true, force: true });
  });
  return { daemon, paths, env, home };
}

function submitParams(name: string, over: Partial<SubmitJobParams> = {}): SubmitJobParams {
  return {
    name,
    start: '2099-01-01T00:00:00Z',
    interval_seconds: 3600,
    callback_url: 'https://actions.example.org/run',
    callback_body: { body: { name } },
    ...over,
  };
}

/** A deterministic byte stream (mulberry32). */
function randomBytes(seed: number, n: number): Buffer {
  let a = seed >>> 0;
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    out[i] = ((x ^ (x >>> 14)) >>> 0) & 0xff;
  }
  return out;
}

function assertError(reply: RpcReply, code: number, dataCode: string | undefined, what: string): void {
  assert.ok(reply.error, `${what}: expected an error, got ${JSON.stringify(reply).slice(0, 300)}`);
  assert.equal(reply.result, undefined, what);
  assert.equal(reply.error.code, code, `${what}: ${JSON.stringify(reply.error)}`);
  assert.equal(reply.error.data?.code, dataCode, `${what}: ${JSON.stringify(reply.error)}`);
  assert.equal(typeof reply.error.message, 'string');
}

test('JSON-RPC server against hostile and mistaken clients', async (t) => {
  const logLines: string[] = [];
  const log = pino(
    { level: 'error' },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        logLines.push(chunk.toString('utf8'));
        cb();
      },
    }),
  );
  const { daemon, paths } = await daemonIn(t, log);
  const sockPath = paths.socketPath;

  // Jobs submitted first, over the wire; at the end they must be exactly as they were.
  const jobs: JobDocument[] = [];
  for (const name of ['first', 'second', 'third']) jobs.push(await call<JobDocument>(sockPath, 'job.submit', submitParams(name)));
  const before = await Promise.all(jobs.map((j) => call<JobDocument>(sockPath, 'job.get', { job_id: j.job_id })));
  assert.deepEqual(before, jobs);
  // Listing order (submission time, then id), for the paging checks below.
  const listed = (await call<JobPage>(sockPath, 'job.list', {})).jobs.map((j) => j.job_id);
  assert.deepEqual([...listed].sort(), jobs.map((j) => j.job_id).sort());

  await t.test('malformed JSON → -32700', async () => {
    for (const line of ['{x', '{"jsonrpc": "2.0", "method": "job.list", "id": 1', 'not json at all', '[1, 2', "{'a': 1}"]) {
      const reply = await rpc(sockPath, line);
      assertError(reply, -32700, undefined, line);
      assert.equal(reply.id, null);
    }
  });

  await t.test('valid JSON that is not a request → -32600', async () => {
    for (const line of [
      '42',
      '"hello"',
      'true',
      '{}',
      '{"foo": 1}',
      '[]',
      '{"jsonrpc": "2.0", "id": 1}',
      '{"jsonrpc": "1.0", "method": "job.list", "id": 7}',
      '{"method": "job.list", "id": 8}',
    ]) {
      assertError(await rpc(sockPath, line), -32600, undefined, line);
    }
  });

  await t.test('unknown method → -32601', async () => {
    for (const method of ['job.nope', 'toString', 'constructor', '__proto__', 'hasOwnProperty', '']) {
      const req = request(method, {});
      const reply = await rpc(sockPath, req);
      assertError(reply, -32601, undefined, JSON.stringify(method));
      assert.equal(reply.id, req.id);
    }
  });

  await t.test('wrong parameter types → -32602 INVALID_INPUT', async () => {
    const good = submitParams('never stored');
    const cases: [string, string, unknown][] = [
      ['interval_seconds as string', 'job.submit', { ...good, interval_seconds: '60' }],
      ['interval_seconds fractional', 'job.submit', { ...good, interval_seconds: 1.5 }],
      ['missing name', 'job.submit', { ...good, name: undefined }],
      ['missing callback_body', 'job.submit', { ...good, callback_body: undefined }],
      ['name as number', 'job.submit', { ...good, name: 7 }],
      ['extra key', 'job.submit', { ...good, extra: 1 }],
      ['callback_body as array', 'job.submit', { ...good, callback_body: [] }],
      ['callback_body as string', 'job.submit', { ...good, callback_body: '{"body": {}}' }],
      ['stop_after.n_runs as string', 'job.submit', { ...good, stop_after: { n_runs: '3' } }],
      ['stop_after extra key', 'job.submit', { ...good, stop_after: { runs: 3 } }],
      ['policy.overlap unknown', 'job.submit', { ...good, policy: { overlap: 'maybe' } }],
      ['name too long', 'job.submit', { ...good, name: 'x'.repeat(256) }],
      ['params as array', 'job.submit', [good]],
      ['no params', 'job.submit', undefined],
      ['job_id as number', 'job.get', { job_id: 42 }],
      ['job_id missing', 'job.get', {}],
      ['job_id empty', 'job.get', { job_id: '' }],
      ['job_id too long', 'job.get', { job_id: 'x'.repeat(65) }],
      ['job.get no params', 'job.get', undefined],
      ['job.delete job_id as number', 'job.delete', { job_id: 42 }],
      ['job.delete extra key', 'job.delete', { job_id: jobs[0]!.job_id, force: true }],
      ['limit 0', 'job.list', { limit: 0 }],
      ['limit 5000', 'job.list', { limit: 5000 }],
      ['limit fractional', 'job.list', { limit: 2.5 }],
      ['limit as string', 'job.list', { limit: '10' }],
      ['show_deleted as string', 'job.list', { show_deleted: 'yes' }],
      ['cursor as number', 'job.list', { cursor: 1 }],
      ['job.list extra key', 'job.list', { all: true }],
      ['job.list params as array', 'job.list', [1]],
      ['daemon.status extra key', 'daemon.status', { verbose: true }],
    ];
    for (const [what, method, params] of cases) {
      const req = request(method, params);
      const reply = await rpc(sockPath, req);
      assertError(reply, -32602, ERROR_CODES.INVALID_INPUT, what);
      assert.equal(reply.id, req.id, what);
    }
  });

  await t.test('semantic errors → INVALID_INPUT', async () => {
    const cases: [string, string, unknown][] = [
      ['http to a non-loopback host', 'job.submit', submitParams('x', { callback_url: 'http://example.org/run' })],
      ['ftp URL', 'job.submit', submitParams('x', { callback_url: 'ftp://example.org/run' })],
      ['credentials in the URL', 'job.submit', submitParams('x', { callback_url: 'https://u:p@example.org/run' })],
      ['interval 0', 'job.submit', submitParams('x', { interval_seconds: 0 })],
      ['interval negative', 'job.submit', submitParams('x', { interval_seconds: -60 })],
      ['interval too long', 'job.submit', submitParams('x', { interval_seconds: MAX_INTERVAL_SECONDS + 1 })],
      ['start not a time', 'job.submit', submitParams('x', { start: 'tomorrow' })],
      ['start not a date', 'job.submit', submitParams('x', { start: '2026-02-30' })],
      ['blank name', 'job.submit', submitParams('   ')],
      ['body without body', 'job.submit', submitParams('x', { callback_body: { source: 1 } })],
      ['body with an extra key', 'job.submit', submitParams('x', { callback_body: { body: {}, extra: 1 } })],
      ['stop_after.n_runs 0', 'job.submit', submitParams('x', { stop_after: { n_runs: 0 } })],
      ['stop_after.date bad', 'job.submit', submitParams('x', { stop_after: { date: 'soon' } })],
      ['cursor garbage', 'job.list', { cursor: 'not-a-cursor' }],
    ];
    for (const [what, method, params] of cases) {
      assertError(await rpc(sockPath, request(method, params)), -32602, ERROR_CODES.INVALID_INPUT, what);
    }
  });

  await t.test('unknown job id → JOB_NOT_FOUND', async () => {
    for (const method of ['job.get', 'job.delete']) {
      const reply = await rpc(sockPath, request(method, { job_id: '00000000-0000-4000-8000-000000000000' }));
      assertError(reply, -32004, ERROR_CODES.JOB_NOT_FOUND, method);
    }
  });

  await t.test('a deeply nested action body is bad input, not an internal error', async () => {
    const deep = '{"body":' + '{"a":'.repeat(20_000) + '1' + '}'.repeat(20_000) + '}';
    const line = `{"jsonrpc":"2.0","id":"deep","method":"job.submit","params":{"name":"deep","interval_seconds":60,"callback_url":"https://x.example/run","callback_body":${deep}}}`;
    assertError(await rpc(sockPath, line), -32602, ERROR_CODES.INVALID_INPUT, 'deep body');
  });

  await t.test('a batch request gets a batch reply', async () => {
    const list = request('job.list', {});
    const status = request('daemon.status', {});
    const bad = request('job.get', { job_id: 7 });
    const get = request('job.get', { job_id: jobs[1]!.job_id });
    const notification = { jsonrpc: '2.0', method: 'job.list', params: {} }; // no reply
    const conn = await RawConn.open(sockPath);
    t.after(() => conn.close());
    const line = await conn.ask(JSON.stringify([list, status, notification, bad, get]));
    const replies = line as unknown as RpcReply[];
    assert.ok(Array.isArray(replies));
    assert.equal(replies.length, 4);
    const byId = new Map(replies.map((r) => [r.id, r]));
    assert.equal((byId.get(list.id)!.result as JobPage).jobs.length, 3);
    assert.equal((byId.get(status.id)!.result as { pid: number }).pid, process.pid);
    assertError(byId.get(bad.id)!, -32602, ERROR_CODES.INVALID_INPUT, 'batch member');
    assert.equal((byId.get(get.id)!.result as JobDocument).job_id, jobs[1]!.job_id);
  });

  await t.test('a batch with non-object members: those get Invalid Request, the others their answers', async () => {
    const list = request('job.list', {});
    const conn = await RawConn.open(sockPath);
    t.after(() => conn.close());
    const replies = (await conn.ask(JSON.stringify([list, null, 5]))) as unknown as RpcReply[];
    assert.ok(Array.isArray(replies));
    assert.equal(replies.length, 3);
    assert.equal((replies.find((r) => r.id === list.id)!.result as JobPage).jobs.length, 3);
    assert.equal(replies.filter((r) => r.error?.code === -32600).length, 2);
    const alone = (await conn.ask('[null]')) as unknown as RpcReply[];
    assert.equal(alone.length, 1);
    assert.equal(alone[0]!.error?.code, -32600);
  });

  await t.test('a notification gets no reply; the connection stays usable', async () => {
    const conn = await RawConn.open(sockPath);
    t.after(() => conn.close());
    conn.write(JSON.stringify({ jsonrpc: '2.0', method: 'job.list', params: {} }) + '\n');
    const req = request('daemon.status', {});
    const reply = await conn.ask(req);
    assert.equal(reply.id, req.id, 'the first reply on the connection is for the request, not the notification');
  });

  await t.test('requests split across writes and several per write', async () => {
    const conn = await RawConn.open(sockPath);
    t.after(() => conn.close());
    const a = request('job.get', { job_id: jobs[0]!.job_id });
    const b = request('job.get', { job_id: jobs[2]!.job_id });
    const text = JSON.stringify(a) + '\n\n  \n' + JSON.stringify(b) + '\n';
    for (let i = 0; i < text.length; i += 7) {
      conn.write(text.slice(i, i + 7));
      await new Promise((resolve) => setImmediate(resolve));
    }
    const replies = [await conn.next(), await conn.next()];
    assert.deepEqual(replies.map((r) => (r.result as JobDocument).job_id).sort(), [jobs[0]!.job_id, jobs[2]!.job_id].sort());
    // A multi-byte character split between writes survives (the error names the id).
    const id = 'ünïcødé-✓-日本';
    const bytes = Buffer.from(JSON.stringify(request('job.get', { job_id: id })) + '\n');
    const cut = bytes.indexOf(Buffer.from('✓')) + 1;
    conn.write(bytes.subarray(0, cut));
    await new Promise((resolve) => setTimeout(resolve, 10));
    conn.write(bytes.subarray(cut));
    const reply = await conn.next();
    assertError(reply, -32004, ERROR_CODES.JOB_NOT_FOUND, 'split utf-8');
    assert.ok(reply.error!.message.includes(id), reply.error!.message);
  });

  await t.test('an oversized frame gets an error reply and the connection closes; the daemon serves on', async () => {
    const conn = await RawConn.open(sockPath);
    t.after(() => conn.close());
    conn.write('x'.repeat(MAX_FRAME_BYTES + 1));
    const reply = await conn.next();
    assertError(reply, -32600, undefined, 'oversized');
    assert.equal(reply.id, null);
    await conn.closed;
    // A valid request after the oversized part is never answered: the connection is gone.
    await assertAlive(sockPath);

    // The same when the big line starts like a real request and keeps coming in chunks.
    const conn2 = await RawConn.open(sockPath);
    t.after(() => conn2.close());
    conn2.write('{"jsonrpc":"2.0","id":1,"method":"job.list","params":{"cursor":"');
    const chunk = 'a'.repeat(64 * 1024);
    for (let sent = 0; sent <= MAX_FRAME_BYTES; sent += chunk.length) conn2.write(chunk);
    assertError(await conn2.next(), -32600, undefined, 'oversized in chunks');
    await conn2.closed;
    await assertAlive(sockPath);

    // Just under the limit is still a frame.
    const justUnder = JSON.stringify(request('job.list', { cursor: 'c'.repeat(MAX_FRAME_BYTES - 200) }));
    assert.ok(justUnder.length < MAX_FRAME_BYTES);
    assertError(await rpc(sockPath, justUnder), -32602, ERROR_CODES.INVALID_INPUT, 'just under the limit');
  });

  await t.test('random bytes, binary garbage and deep nesting do not crash it', async () => {
    // Random bytes (with their own newlines), then a real request on the same connection.
    for (const seed of [1, 2, 3]) {
      const conn = await RawConn.open(sockPath);
      t.after(() => conn.close());
      conn.write(randomBytes(seed, 64 * 1024));
      const req = request('daemon.status', {});
      conn.write('\n' + JSON.stringify(req) + '\n');
      for (;;) {
        const reply = await conn.next();
        if (reply.id === req.id) {
          assert.equal((reply.result as { pid: number }).pid, process.pid);
          break;
        }
        assert.ok(reply.error, `garbage got a non-error reply: ${JSON.stringify(reply).slice(0, 200)}`);
        assert.ok([-32700, -32600].includes(reply.error.code), JSON.stringify(reply.error));
      }
    }
    const garbage: [string, string | Buffer, number[]][] = [
      ['NUL and invalid UTF-8', Buffer.from([0, 0xff, 0xfe, 0xc3, 0x28, 0x80, 0x0a]), [-32700]],
      ['100000 levels of [', '['.repeat(100_000) + '\n', [-32700]],
      ['100000 levels of [ ]', '['.repeat(100_000) + ']'.repeat(100_000) + '\n', [-32700, -32600]],
      ['50000 levels of {', '{"a":'.repeat(50_000) + '1' + '}'.repeat(50_000) + '\n', [-32700, -32600]],
      ['deep params', `{"jsonrpc":"2.0","id":1,"method":"job.list","params":${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}}\n`, [-32602]],
      ['deep batch', '['.repeat(1000) + JSON.stringify(request('job.list', {})) + ']'.repeat(1000) + '\n', [-32700, -32600]],
      ['huge number', '1' + '0'.repeat(100_000) + '\n', [-32700, -32600]],
      ['long string', JSON.stringify('s'.repeat(500_000)) + '\n', [-32600]],
    ];
    for (const [what, payload, codes] of garbage) {
      const conn = await RawConn.open(sockPath);
      t.after(() => conn.close());
      conn.write(payload);
      const reply = await conn.next();
      const replies = Array.isArray(reply) ? (reply as RpcReply[]) : [reply];
      for (const r of replies) {
        assert.ok(r.error && codes.includes(r.error.code), `${what}: ${JSON.stringify(r).slice(0, 200)}`);
      }
      await assertAlive(sockPath);
    }
    // A client that vanishes mid-frame or mid-reply.
    const conn = await RawConn.open(sockPath);
    conn.write('{"jsonrpc":"2.0","id":1,"method":"job.li');
    conn.close();
    const conn2 = await RawConn.open(sockPath);
    conn2.write(JSON.stringify(request('job.list', { limit: 1000 })) + '\n');
    conn2.close();
    await assertAlive(sockPath);
  });

  await t.test('50 concurrent clients', async () => {
    const replies = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const conn = await RawConn.open(sockPath);
        try {
          const req = request('job.list', { limit: 2 + (i % 3) });
          const reply = await conn.ask(req);
          assert.equal(reply.id, req.id);
          return reply;
        } finally {
          conn.close();
        }
      }),
    );
    for (const [i, reply] of replies.entries()) {
      const page = reply.result as JobPage;
      const limit = 2 + (i % 3);
      assert.deepEqual(
        page.jobs.map((j) => j.job_id),
        listed.slice(0, limit),
      );
      assert.equal(page.next_cursor === null, limit >= jobs.length);
    }
    // Many requests on one connection, all in flight at once.
    const conn = await RawConn.open(sockPath);
    t.after(() => conn.close());
    const reqs = Array.from({ length: 200 }, () => request('job.get', { job_id: jobs[1]!.job_id }));
    conn.write(reqs.map((r) => JSON.stringify(r) + '\n').join(''));
    const ids = new Set<unknown>();
    for (let i = 0; i < reqs.length; i++) ids.add((await conn.next()).id);
    assert.deepEqual(ids, new Set(reqs.map((r) => r.id)));
  });

  await t.test('an internal error is answered without its message or stack', async (t2) => {
    const original = daemon.service.list;
    t2.after(() => {
      daemon.service.list = original;
    });
    const secret = 'SECRET-/home/alice/.config/globus/tokens.json';
    for (const thrown of [new Error(secret), new TypeError(secret), secret, { secret }]) {
      daemon.service.list = () => {
        throw thrown;
      };
      const before = logLines.length;
      const req = request('job.list', {});
      const reply = await rpc(sockPath, req);
      const raw = JSON.stringify(reply);
      assertError(reply, -32603, ERROR_CODES.INTERNAL, String(thrown));
      assert.equal(reply.id, req.id);
      assert.ok(!raw.includes('SECRET'), `leaked: ${raw}`);
      assert.ok(!raw.includes('alice'), `leaked: ${raw}`);
      assert.ok(!/\bat \S+ \(|\.ts:\d+/.test(raw), `a stack in the reply: ${raw}`);
      // The operator still learns what happened, from the log.
      assert.ok(
        logLines.slice(before).some((l) => l.includes('rpc method failed')),
        'not logged',
      );
    }
    daemon.service.list = original;
    await assertAlive(sockPath);
  });

  await t.test('after all that, the jobs submitted first are unchanged and nothing was added', async () => {
    const after = await Promise.all(jobs.map((j) => call<JobDocument>(sockPath, 'job.get', { job_id: j.job_id })));
    assert.deepEqual(after, before);
    const page = await call<JobPage>(sockPath, 'job.list', { limit: 1000, show_deleted: true });
    assert.deepEqual(
      page.jobs.map((j) => j.job_id),
      listed,
    );
    assert.equal(page.next_cursor, null);
  });
});

test('socket file is 0600; a directory that already exists is never chmod-ed', async (t) => {
  const home = shortHome();
  t.after(() => fs.rmSync(home, { recursive: true, force: true }));
  // Readable by others but not writable: usable (no one else can add or replace a file),
  // and not ours to change: the daemon used to tighten it, and must no longer chmod a
  // directory it did not create (issue 11; test/private-paths.test.ts has the refusals).
  fs.chmodSync(home, 0o755);
  const paths = resolvePaths({ GLOBUS_TIMER_HOME: home });
  const daemon = await startDaemon({ paths, config: testConfig(), log: silentLogger() });
  try {
    const st = fs.statSync(paths.socketPath);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.dirname(paths.socketPath)).mode & 0o777, 0o755);
    assert.equal(fs.statSync(paths.dbFile).mode & 0o077, 0, 'the database is readable by others');
    await assertAlive(paths.socketPath);
  } finally {
    await daemon.stop();
  }
  assert.equal(fs.existsSync(paths.socketPath), false, 'stop() leaves the socket file');
  assert.equal(fs.existsSync(paths.lockFile), false, 'stop() leaves the pid lock');
});

test('a second daemon on the same GLOBUS_TIMER_HOME refuses to start', async (t) => {
  const { paths, env } = await daemonIn(t);
  const job = await call<JobDocument>(paths.socketPath, 'job.submit', submitParams('keep me'));

  // A real second process: the live pid lock stops it before it touches the socket.
  const proc = await runCliProcess(['daemon', 'run'], { ...env, GLOBUS_TIMER_LOG_LEVEL: 'silent' });
  assert.equal(proc.code, 1, proc.stderr);
  assert.match(proc.stderr, /already running/);
  assert.equal(proc.stdout, '');
  assert.ok(fs.statSync(paths.socketPath).isSocket(), 'the second daemon removed the socket');
  await assertAlive(paths.socketPath);

  // In the same process (the same pid in the lock): the live socket stops it.
  await assert.rejects(
    startDaemon({ paths, config: testConfig(), log: silentLogger() }),
    (err: unknown) => (err as { code?: unknown }).code === ERROR_CODES.DAEMON_ALREADY_RUNNING,
  );
  assert.ok(fs.statSync(paths.socketPath).isSocket(), 'the second daemon removed the socket');
  await assertAlive(paths.socketPath);
  assert.deepEqual(await call<JobDocument>(paths.socketPath, 'job.get', { job_id: job.job_id }), job);
});

test('a stale socket file is replaced and the daemon starts', async (t) => {
  const home = shortHome();
  t.after(() => fs.rmSync(home, { recursive: true, force: true }));
  const paths = resolvePaths({ GLOBUS_TIMER_HOME: home });

  await t.test('a plain file at the socket path', async () => {
    fs.writeFileSync(paths.socketPath, 'left over');
    const daemon = await startDaemon({ paths, config: testConfig(), log: silentLogger() });
    try {
      assert.ok(fs.statSync(paths.socketPath).isSocket());
      assert.equal(fs.statSync(paths.socketPath).mode & 0o777, 0o600);
      await assertAlive(paths.socketPath);
    } finally {
      await daemon.stop();
    }
  });

  await t.test('a socket nobody listens on, and a pid lock of a dead process', async () => {
    // Leave a real socket behind: hard-link the live one, stop the daemon, put the link back.
    const first = await startDaemon({ paths, config: testConfig(), log: silentLogger() });
    const job = await call<JobDocument>(paths.socketPath, 'job.submit', submitParams('survivor'));
    const keep = path.join(home, 'stale.sock');
    fs.linkSync(paths.socketPath, keep);
    await first.stop();
    fs.renameSync(keep, paths.socketPath);
    assert.ok(fs.statSync(paths.socketPath).isSocket());
    await assert.rejects(RawConn.open(paths.socketPath), (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED');
    // And a pid lock as a killed daemon leaves it: a pid that is not running any more.
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    assert.ok(dead && dead > 0);
    fs.writeFileSync(paths.lockFile, `${dead}\n`);

    const second = await startDaemon({ paths, config: testConfig(), log: silentLogger() });
    try {
      assert.equal(fs.readFileSync(paths.lockFile, 'utf8').trim(), String(process.pid));
      assert.equal(fs.statSync(paths.socketPath).mode & 0o777, 0o600);
      await assertAlive(paths.socketPath);
      assert.deepEqual(await call<JobDocument>(paths.socketPath, 'job.get', { job_id: job.job_id }), job);
    } finally {
      await second.stop();
    }
  });
});

test('replies to requests still being answered when an oversized frame arrives are sent before the connection ends', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-rpc-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  // A handler that answers only after the oversized frame has been seen: the case where a
  // reply used to be dropped because the socket was already ended.
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const handlers = {
    'daemon.status': async () => {
      await released;
      return { slow: true };
    },
  } as unknown as Handlers;
  const server = new RpcServer(handlers, silentLogger());
  const sockPath = path.join(dir, 's.sock');
  await server.listen(sockPath);
  t.after(() => server.close());
  const conn = await RawConn.open(sockPath);
  t.after(() => conn.close());
  const slow = request('daemon.status', {});
  conn.write(JSON.stringify(slow) + '\n');
  const chunk = 'z'.repeat(64 * 1024);
  for (let sent = 0; sent <= MAX_FRAME_BYTES; sent += chunk.length) conn.write(chunk);
  await new Promise((resolve) => setTimeout(resolve, 50));
  release();
  const first = await conn.next();
  assert.equal(first.id, slow.id, 'the pending request is answered first');
  assert.deepEqual(first.result, { slow: true });
  assertError(await conn.next(), -32600, undefined, 'then the oversize error');
  await conn.closed;
});

test('a write the database refuses (disk full) is answered with a clear STORE_FAILED error, not "internal error"; the daemon serves on', async (t) => {
  const { daemon, paths } = await daemonIn(t);
  const job = await call<JobDocument>(paths.socketPath, 'job.submit', submitParams('kept'));
  // SQLite's own SQLITE_FULL: the file may not grow past the pages it has now.
  const pages = daemon.db.$client.pragma('page_count', { simple: true }) as number;
  daemon.db.$client.pragma(`max_page_count = ${pages}`);
  let reply: RpcReply | undefined;
  for (let i = 0; i < 200 && !reply?.error; i++) reply = await rpc(paths.socketPath, request('job.submit', submitParams(`filler-${i}-${'x'.repeat(200)}`)));
  assertError(reply!, -32000, ERROR_CODES.STORE_FAILED, 'disk full');
  assert.match(reply!.error!.message, /database or disk is full.*free disk space/, reply!.error!.message);
  daemon.db.$client.pragma('max_page_count = 1073741823');
  assert.equal((await call<JobDocument>(paths.socketPath, 'job.get', { job_id: job.job_id })).name, 'kept');
});
