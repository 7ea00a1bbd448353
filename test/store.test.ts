import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { insertJob } from '../src/daemon/store/jobs.ts';
import { openDb } from '../src/daemon/store/open.ts';
import { insertRun, pruneOldRuns, updateRun } from '../src/daemon/store/runs.ts';
import fs from 'node:fs';
import { startDaemon } from '../src/daemon/daemon.ts';
import { silentLogger } from '../src/log/logger.ts';
import { tempHome, testConfig } from './support/env.ts';

test('age retention: finished runs completed before the cutoff go, in batches; open and newer ones stay', (t) => {
  const { paths } = tempHome(t);
  const db = openDb(paths.dbFile);
  t.after(() => db.$client.close());
  const id = randomUUID();
  insertJob(db, {
    id,
    name: 'j',
    startAtMs: 0,
    intervalSeconds: 1,
    callbackUrl: 'https://x.example/run',
    callbackBody: { body: {} },
    status: 'loaded',
    submittedAtMs: 0,
    nextSlotIndex: 0,
    updatedAtMs: 0,
  });
  const runIds = Array.from({ length: 7 }, (_, i) => insertRun(db, { jobId: id, slotAtMs: i, requestId: `r${i}`, firedAtMs: i, retryUntilMs: i })!.id);
  for (const [i, runId] of runIds.slice(0, 5).entries()) updateRun(db, runId, { state: 'succeeded', completedAtMs: 1_000 + i });
  updateRun(db, runIds[5]!, { state: 'failed', completedAtMs: 9_000 });
  // runIds[6] stays open.
  assert.equal(pruneOldRuns(db, 5_000, 2), 2, 'a batch at most');
  assert.equal(pruneOldRuns(db, 5_000, 2), 2);
  assert.equal(pruneOldRuns(db, 5_000, 2), 1);
  assert.equal(pruneOldRuns(db, 5_000, 2), 0);
  const left = (db.$client.prepare('SELECT id FROM runs ORDER BY id').all() as { id: number }[]).map((r) => r.id);
  assert.deepEqual(left, runIds.slice(5));
});

test('WAL checkpoints run on a worker: the main connection never checkpoints, the file still catches up', async (t) => {
  const { paths } = tempHome(t);
  const daemon = await startDaemon({ paths, config: testConfig(), log: silentLogger() });
  t.after(() => daemon.stop());
  assert.equal(daemon.db.$client.pragma('wal_autocheckpoint', { simple: true }), 0);
  const before = fs.statSync(paths.dbFile).size;
  for (let i = 0; i < 2_000; i++) {
    daemon.service.submit({
      name: `j${i}`,
      interval_seconds: 3600,
      start: '2030-01-01T00:00:00Z',
      callback_url: 'https://x.example/run',
      callback_body: { body: { pad: 'x'.repeat(200) } },
    });
  }
  // Only a checkpoint moves pages from the WAL into the database file.
  for (let i = 0; i < 60 && fs.statSync(paths.dbFile).size <= before; i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(fs.statSync(paths.dbFile).size > before + 200_000, 'the worker checkpointed the WAL into the file');
});

test('a database with a damaged table or index root page is refused at open, and the file is left byte for byte as it was', async (t) => {
  const { createHash } = await import('node:crypto');
  for (const damaged of ['jobs', 'runs', 'jobs_next_run_at', 'runs_open']) {
    const { paths } = tempHome(t);
    const db = openDb(paths.dbFile);
    const job = insertJob(db, {
      id: randomUUID(),
      name: 'j',
      startAtMs: 0,
      intervalSeconds: 60,
      callbackUrl: 'http://127.0.0.1:1/run',
      callbackBody: { body: {} },
      status: 'loaded',
      submittedAtMs: 0,
      nextSlotIndex: 1,
      nextSlotAtMs: 60_000,
      nextRunAtMs: 60_000,
      updatedAtMs: 0,
    });
    insertRun(db, { jobId: job.id, slotAtMs: 0, requestId: randomUUID(), firedAtMs: 0, retryUntilMs: 1 });
    const { rootpage } = db.$client.prepare('SELECT rootpage FROM sqlite_master WHERE name = ?').get(damaged) as { rootpage: number };
    const pageSize = db.$client.pragma('page_size', { simple: true }) as number;
    db.$client.close(); // checkpoints the WAL into the file
    const fd = fs.openSync(paths.dbFile, 'r+');
    fs.writeSync(fd, Buffer.alloc(pageSize, 0xa5), 0, pageSize, (rootpage - 1) * pageSize);
    fs.closeSync(fd);
    const sha = () => createHash('sha256').update(fs.readFileSync(paths.dbFile)).digest('hex');
    const before = sha();
    assert.throws(() => openDb(paths.dbFile), /malformed|not a database|corrupt/, `${damaged} root page damaged`);
    assert.equal(sha(), before, `${damaged}: the file was not written`);
  }
});
