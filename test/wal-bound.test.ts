/**
 * Issue 17 item 2: a WAL that shrinks. A burst leaves the WAL file large; the checkpointer
 * cuts it back to WAL_AT_REST_BYTES at the main connection's next WAL reset
 * (journal_size_limit) and, when the daemon is idle, truncates it outright; never while the
 * daemon says it is busy.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { startCheckpointer, WAL_AT_REST_BYTES } from '../src/daemon/store/checkpointer.ts';
import { openDb, type Db } from '../src/daemon/store/open.ts';
import { silentLogger } from '../src/log/logger.ts';

function walBytes(file: string): number {
  try {
    return fs.statSync(`${file}-wal`).size;
  } catch {
    return 0;
  }
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A database and its checkpointer; stopped, then closed, after the test (in that order: stop() uses the connection). */
function store(t: TestContext, opts: { intervalMs: number; restCheckMs: number }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-wal-'));
  const file = path.join(dir, 'timer.db');
  const db = openDb(file);
  db.$client.exec('CREATE TABLE burst (x BLOB)');
  const checkpointer = startCheckpointer(db, file, silentLogger(), opts);
  t.after(async () => {
    await checkpointer.stop();
    db.$client.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { db, file, checkpointer };
}

/** 24 MiB of commits in 1 MiB transactions: the WAL grows past it (the checkpointer copies, never shrinks). */
function burst(db: Db): void {
  const insert = db.$client.prepare('INSERT INTO burst (x) VALUES (?)');
  const blob = Buffer.alloc(64 << 10, 7);
  for (let i = 0; i < 24; i++)
    db.$client.transaction(() => {
      for (let j = 0; j < 16; j++) insert.run(blob);
    })();
}

test('an idle daemon truncates a WAL a burst left large; a busy one does not', async (t) => {
  const { db, file, checkpointer } = store(t, { intervalMs: 50, restCheckMs: 50 });
  let idle = false;
  checkpointer.truncateWhen(() => idle);
  burst(db);
  const big = walBytes(file);
  assert.ok(big > 4 * WAL_AT_REST_BYTES, `the burst made a ${big}-byte WAL`);
  await new Promise((r) => setTimeout(r, 400));
  assert.ok(walBytes(file) > WAL_AT_REST_BYTES, 'not truncated while busy');
  idle = true;
  await until('the WAL at rest', () => walBytes(file) <= WAL_AT_REST_BYTES);
  // The data is all there.
  assert.equal((db.$client.prepare('SELECT count(*) AS n FROM burst').get() as { n: number }).n, 24 * 16);
});

test('journal_size_limit: the first commit after a full checkpoint cuts the WAL back, busy or not', async (t) => {
  const { db, file, checkpointer } = store(t, { intervalMs: 50, restCheckMs: 60_000 });
  checkpointer.truncateWhen(() => false);
  burst(db);
  assert.ok(walBytes(file) > 4 * WAL_AT_REST_BYTES);
  // The worker's PASSIVE checkpoints copy every frame; then one small commit starts the WAL over and cuts it.
  await until('the WAL cut back at its reset', () => {
    db.$client.prepare('INSERT INTO burst (x) VALUES (?)').run(Buffer.alloc(16));
    return walBytes(file) <= WAL_AT_REST_BYTES;
  });
});

test('the checkpoint worker runs only while there is something to checkpoint: started by a change or a request, ended when idle', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-wal-'));
  const file = path.join(dir, 'timer.db');
  const db = openDb(file);
  db.$client.exec('CREATE TABLE marks (n INTEGER)');
  // The last connection to close checkpoints the WAL and removes it: the store reopens with none.
  db.$client.close();
  const again = openDb(file);
  const checkpointer = startCheckpointer(again, file, silentLogger(), { intervalMs: 20, restCheckMs: 60_000, retireMs: 300 });
  t.after(async () => {
    await checkpointer.stop();
    again.$client.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await new Promise((r) => setTimeout(r, 250));
  assert.equal(checkpointer.running, false, 'nothing to checkpoint: no worker');
  again.$client.prepare('INSERT INTO marks (n) VALUES (1)').run();
  await until('the worker started by the change', () => checkpointer.running);
  await until('the worker ended once idle', () => !checkpointer.running);
  const asked = performance.now();
  await checkpointer.caughtUp(5_000);
  assert.ok(performance.now() - asked < 4_000, 'a checkpoint asked for starts the worker and is answered');
  assert.equal(checkpointer.running, true);
  assert.equal((again.$client.prepare('SELECT count(*) AS n FROM marks').get() as { n: number }).n, 1);
});
