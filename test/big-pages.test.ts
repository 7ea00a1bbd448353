/**
 * Issue 12 item 1: job lists over 1 MiB, and messages over the frame limit. Pages are
 * bounded by size as well as count; the largest job body is MAX_ACTION_BODY_BYTES; a
 * request or reply over MAX_FRAME_BYTES gets an error naming its size and the limit, on
 * both sides, never "the daemon closed the connection". Through the real CLI
 * (bin/globus-timer.js) against a real daemon process.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import test from 'node:test';
import { jsonBytes } from '../src/util/byte-size.ts';
import { ERROR_CODES, TimerError } from '../src/core/errors.ts';
import { MAX_ACTION_BODY_BYTES } from '../src/core/input.ts';
import { silentLogger } from '../src/log/logger.ts';
import { RpcClient } from '../src/contract/client.ts';
import { MAX_FRAME_BYTES, MAX_PAGE_BYTES, PROTOCOL_VERSION, type JobDocument, type JobPage, type SubmitJobParams } from '../src/contract/protocol.ts';
import { RpcServer, type Handlers } from '../src/daemon/rpc-server.ts';
import { fillPage } from '../src/daemon/jobs/page.ts';
import { runCliProcess, startDaemonProcess, tempHome } from './support/env.ts';

/** A Transfer action body with `items` items (about 210 bytes each). */
function transferBody(items: number): Record<string, unknown> {
  const DATA = Array.from({ length: items }, (_, i) => ({
    source_path: `/data/projects/beamline-7/experiment-2026/run-${String(i).padStart(5, '0')}/detector-frames.h5`,
    destination_path: `/archive/projects/beamline-7/experiment-2026/run-${String(i).padStart(5, '0')}/detector-frames.h5`,
    recursive: false,
  }));
  return {
    body: {
      source_endpoint: '000a11ce-0000-1000-8000-000000000003',
      destination_endpoint: '000a11ce-0000-1000-8000-000000000002',
      DATA,
      label: 'nightly archive',
      sync_level: 3,
      verify_checksum: true,
    },
  };
}

function submitParams(name: string, body: Record<string, unknown>): SubmitJobParams {
  return {
    name,
    start: '2099-01-01T00:00:00Z',
    interval_seconds: 86_400,
    callback_url: 'https://transfer.actions.globus.org/transfer/run',
    callback_body: body,
    scope: null,
  };
}

const MIB = 1 << 20;
const limitText = '1 MiB (1,048,576 bytes)';
const frameLimitText = '4 MiB (4,194,304 bytes)';

test('job list, job status --all and job list --show-deleted over 1 MiB: 150 jobs of 13 KB and one of 900 KB (issue 12 item 1)', async (t) => {
  const { env, paths, home } = tempHome(t);
  const cliEnv = { ...env, GLOBUS_TIMER_NO_AUTOSTART: '1' };
  await startDaemonProcess(t, env);
  const client = await RpcClient.connect(paths.socketPath);
  t.after(() => client.close());

  const small = transferBody(64);
  const big = transferBody(4_460);
  assert.ok(jsonBytes(small) > 13_000 && jsonBytes(small) < 14_500, `a small body is ${jsonBytes(small)} bytes`);
  assert.ok(jsonBytes(big) > 900_000 && jsonBytes(big) < MAX_ACTION_BODY_BYTES, `the big body is ${jsonBytes(big)} bytes`);
  const made: JobDocument[] = [];
  for (let i = 0; i < 150; i++) {
    made.push(await client.call('job.submit', submitParams(`job-${i}`, small)));
    if (i === 75) made.push(await client.call('job.submit', submitParams('the-big-one', big)));
  }
  assert.equal(made.length, 151);
  // Lists are in submission order: by submitted_at, and jobs submitted in the same millisecond by id.
  const ids = made.toSorted((a, b) => Date.parse(a.submitted_at) - Date.parse(b.submitted_at) || (a.job_id < b.job_id ? -1 : 1)).map((j) => j.job_id);
  const bigId = made.find((j) => j.name === 'the-big-one')!.job_id;

  const tableIds = (stdout: string) =>
    stdout
      .trimEnd()
      .split('\n')
      .slice(2)
      .map((row) => row.split(' | ')[1]!.trim());
  const recordIds = (stdout: string) => [...stdout.matchAll(/^Job ID: +(\S+)$/gm)].map((m) => m[1]);

  const list = await runCliProcess(['job', 'list'], cliEnv);
  assert.equal(list.code, 0, list.stderr);
  assert.equal(list.stderr, '');
  assert.deepEqual(tableIds(list.stdout), ids);
  const status = await runCliProcess(['job', 'status', '--all'], cliEnv);
  assert.equal(status.code, 0, status.stderr);
  assert.deepEqual(recordIds(status.stdout), ids);
  const json = await runCliProcess(['job', 'list', '--format', 'json'], cliEnv);
  assert.equal(json.code, 0, json.stderr);
  const docs = JSON.parse(json.stdout) as JobDocument[];
  assert.deepEqual(
    docs.map((d) => d.job_id),
    ids,
  );
  assert.deepEqual(docs.find((d) => d.job_id === bigId)!.callback_body, big, 'the 900 KB body comes back whole');

  // The daemon's pages stay under the frame limit: at most MAX_PAGE_BYTES of jobs, or one job.
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page: JobPage = await client.call('job.list', { limit: 1000, cursor });
    const pageBytes = jsonBytes(page.jobs);
    assert.ok(pageBytes <= MAX_PAGE_BYTES + 2 || page.jobs.length === 1, `a page of ${page.jobs.length} jobs is ${pageBytes} bytes`);
    cursor = page.next_cursor;
    pages += 1;
  } while (cursor);
  assert.ok(pages >= 3, `${pages} pages`);

  // Deleted, they are listed only with --show-deleted: the case that stayed broken for good.
  const deleted = await runCliProcess(['job', 'delete', ...ids], cliEnv);
  assert.equal(deleted.code, 0, deleted.stderr);
  const empty = await runCliProcess(['job', 'list'], cliEnv);
  assert.deepEqual(tableIds(empty.stdout), []);
  const withDeleted = await runCliProcess(['job', 'list', '--show-deleted'], cliEnv);
  assert.equal(withDeleted.code, 0, withDeleted.stderr);
  assert.deepEqual(tableIds(withDeleted.stdout), ids);
  assert.ok(
    withDeleted.stdout
      .trimEnd()
      .split('\n')
      .slice(2)
      .every((row) => row.split(' | ')[2]!.trim() === 'deleted'),
  );
  const statusDeleted = await runCliProcess(['job', 'status', '--all', '--show-deleted'], cliEnv);
  assert.equal(statusDeleted.code, 0, statusDeleted.stderr);
  assert.deepEqual(recordIds(statusDeleted.stdout), ids);

  // An action body over the largest a job may have: the CLI refuses it itself (exit 2,
  // before any request), at submit and at update.
  const bigFile = path.join(home, 'big.json');
  const tooBig = transferBody(15_600);
  fs.writeFileSync(bigFile, JSON.stringify(tooBig));
  const size = jsonBytes(tooBig);
  assert.ok(size > 3 * MIB && size < 3.1 * MIB, `${size}`);
  const sizeText = `${(size / MIB).toFixed(1)} MiB (${size.toLocaleString('en-US')} bytes)`;
  const refusal = `globus-timer: the action body is ${sizeText}; the largest a job may have is ${limitText}\n`;
  const submit = await runCliProcess(
    [
      'job',
      'submit',
      '--name',
      'huge',
      '--interval',
      '1d',
      '--action-url',
      'https://transfer.actions.globus.org/transfer/run',
      '--action-file',
      bigFile,
      '--no-scope',
    ],
    cliEnv,
  );
  assert.deepEqual({ code: submit.code, stderr: submit.stderr, stdout: submit.stdout }, { code: 2, stderr: refusal, stdout: '' });
  const update = await runCliProcess(['job', 'update', ids[0]!, '--action-file', bigFile], cliEnv);
  assert.deepEqual({ code: update.code, stderr: update.stderr }, { code: 2, stderr: refusal });

  // The daemon applies the same rule to a client that skips the CLI (a 2 MiB body fits a frame).
  const twoMib = transferBody(9_800);
  await assert.rejects(client.call('job.submit', submitParams('direct', twoMib)), (e: unknown) => {
    assert.ok(e instanceof TimerError && e.code === ERROR_CODES.INVALID_INPUT, String(e));
    const n = jsonBytes(twoMib);
    assert.equal(e.message, `the action body is ${(n / MIB).toFixed(1)} MiB (${n.toLocaleString('en-US')} bytes); the largest a job may have is ${limitText}`);
    return true;
  });

  // A request over the frame limit: the client refuses to send it, naming its size and the limit...
  const huge = submitParams('huge', transferBody(23_000));
  const hugeBytes = jsonBytes({ jsonrpc: '2.0', id: 0, method: 'job.submit', params: huge }); // the id is one digit, as the client's is
  assert.ok(hugeBytes > MAX_FRAME_BYTES);
  await assert.rejects(client.call('job.submit', huge), (e: unknown) => {
    assert.ok(e instanceof TimerError && e.code === ERROR_CODES.INVALID_INPUT, String(e));
    assert.match(
      e.message,
      /^the request \(job\.submit\) is 4\.\d MiB \([\d,]+ bytes\), over the limit of 4 MiB \(4,194,304 bytes\) for one message between the CLI and the daemon$/,
    );
    return true;
  });
  assert.equal((await client.call('job.list', { limit: 1 })).jobs.length, 0, 'the connection is still usable');
  // ...and a raw client that sends one gets an error naming both, then the connection closes.
  const reply = await rawExchange(paths.socketPath, `${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'job.submit', params: huge })}\n`);
  const reported = JSON.parse(reply) as { id: unknown; error: { code: number; message: string } };
  assert.equal(reported.id, null);
  assert.equal(reported.error.code, -32600);
  assert.match(
    reported.error.message,
    new RegExp(
      `^the request is (more than )?4\\.\\d MiB \\([\\d,]+ bytes\\), over the limit of ${frameLimitText.replace(/[()]/g, '\\$&')} for one message between the CLI and the daemon$`,
    ),
  );
  assert.equal((await client.call('daemon.status', {})).jobs.deleted, 151, 'the daemon serves on, nothing stored');
});

/** Send `text` on a fresh connection; resolve with the first line answered (the connection then closes). */
function rawExchange(socketPath: string, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath, () => sock.write(text));
    let got = '';
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => (got += chunk));
    sock.on('error', () => {}); // the daemon may close while we still write
    sock.on('close', () => (got.includes('\n') ? resolve(got.slice(0, got.indexOf('\n'))) : reject(new Error(`no answer: ${JSON.stringify(got)}`))));
  });
}

test('the client names the size and the limit of a reply it cannot take, and shows an error the daemon could not tie to a request', async (t) => {
  const { paths } = tempHome(t);
  // A server that answers daemon.hello, then each request with what the case needs.
  const answers: ((id: unknown) => string)[] = [];
  const server = net.createServer((sock) => {
    let buf = '';
    sock.on('error', () => {});
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      buf += chunk;
      for (let i = buf.indexOf('\n'); i !== -1; i = buf.indexOf('\n')) {
        const { id, method } = JSON.parse(buf.slice(0, i)) as { id: unknown; method: string };
        buf = buf.slice(i + 1);
        if (method === 'daemon.hello')
          sock.write(JSON.stringify({ jsonrpc: '2.0', id, result: { protocol_version: PROTOCOL_VERSION, version: 'test', pid: 1 } }) + '\n');
        else sock.write(answers.shift()!(id));
      }
    });
  });
  fs.mkdirSync(path.dirname(paths.socketPath), { recursive: true, mode: 0o700 });
  await new Promise<void>((resolve) => server.listen(paths.socketPath, resolve));
  fs.chmodSync(paths.socketPath, 0o600);
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  // A reply over the limit (an older or newer daemon): its size and the limit, not "closed".
  answers.push((id) => JSON.stringify({ jsonrpc: '2.0', id, result: { jobs: [], pad: 'x'.repeat(5 * MIB) } }) + '\n');
  const c1 = await RpcClient.connect(paths.socketPath);
  await assert.rejects(c1.call('job.list', {}), (e: unknown) => {
    assert.match(
      (e as Error).message,
      /^the daemon's reply is more than 4\.\d MiB \([\d,]+ bytes\), over the limit of 4 MiB \(4,194,304 bytes\) for one message between the CLI and the daemon$/,
    );
    return true;
  });
  await assert.rejects(c1.call('job.list', {}), /daemon call job\.list failed: the daemon's reply is more than/, 'a later call fails at once, with the reason');
  c1.close();

  // An error with id null ("frame too large" from a daemon with a smaller limit): shown as the daemon said it.
  answers.push(() => JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'the request is 2.0 MiB, over the limit' } }) + '\n');
  const c2 = await RpcClient.connect(paths.socketPath);
  await assert.rejects(c2.call('job.list', {}), (e: unknown) => (e as Error).message === 'the request is 2.0 MiB, over the limit');
  c2.close();
});

test('the daemon never sends a reply over the frame limit: the request gets an error naming its size and the limit', async (t) => {
  const { paths } = tempHome(t);
  const handlers = {
    'daemon.hello': () => ({ protocol_version: PROTOCOL_VERSION, version: 'test', pid: process.pid }),
    'daemon.status': () => ({ pad: 'x'.repeat(5 * MIB) }),
  } as unknown as Handlers;
  const server = new RpcServer(handlers, silentLogger());
  await server.listen(paths.socketPath);
  t.after(() => server.close());
  const client = await RpcClient.connect(paths.socketPath);
  t.after(() => client.close());
  await assert.rejects(client.call('daemon.status', {}), (e: unknown) => {
    assert.ok(e instanceof TimerError && e.code === ERROR_CODES.RPC_FAILED, String(e));
    assert.match(
      e.message,
      /^the reply is 5\.0 MiB \(5,242,\d{3} bytes\), over the limit of 4 MiB \(4,194,304 bytes\) for one message between the CLI and the daemon$/,
    );
    return true;
  });
  assert.deepEqual(
    await client.call('daemon.hello', { protocol_version: PROTOCOL_VERSION, version: 'test' }),
    { protocol_version: PROTOCOL_VERSION, version: 'test', pid: process.pid },
    'the connection serves on',
  );
});

test('fillPage: bounded by count and bytes (the first item always taken); with no byte bound, by count alone and nothing measured', () => {
  const big = 'x'.repeat(1000);
  const sources = Array.from({ length: 10 }, (_, i) => i);
  const byBytes = fillPage(sources, (i) => ({ i, big }), 100, 2_500);
  assert.deepEqual(
    byBytes.items.map((x) => x.i),
    [0, 1],
  );
  assert.equal(byBytes.more, true);
  assert.equal(byBytes.last, 1);
  assert.deepEqual(fillPage(sources, (i) => ({ i, big }), 100, 10).items.length, 1, 'the first item whatever its size');
  let measured = 0;
  const toItem = (i: number) => ({
    i,
    toJSON() {
      measured++;
      return { i };
    },
  });
  const byCount = fillPage(sources, toItem, 4, Number.POSITIVE_INFINITY);
  assert.deepEqual(
    byCount.items.map((x) => x.i),
    [0, 1, 2, 3],
  );
  assert.equal(byCount.more, true);
  assert.equal(measured, 0, 'no item was serialized to be measured');
  assert.equal(fillPage(sources, toItem, 100, Number.POSITIVE_INFINITY).more, false);
});
