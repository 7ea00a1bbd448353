import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { insertJob, iterateJobChunks } from '../src/daemon/store/jobs.ts';
import { openDb } from '../src/daemon/store/open.ts';
import { insertRun, newestRunOfEach, updateRun } from '../src/daemon/store/runs.ts';
import { pruneOldRuns } from '../src/daemon/store/run-history.ts';
import fs from 'node:fs';
import { startDaemon } from '../src/daemon/daemon.ts';
import { silentLogger } from '../src/log/logger.ts';
import { FAST_POLLING, runCliProcess, startDaemonProcess, tempHome, testConfig } from './support/env.ts';
import Database from 'better-sqlite3';
import { startFakeProvider } from './support/provider.ts';

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

test("a list chunk: jobs in submission order after a key (ties by id, deleted ones only when asked), and each job's newest run in one statement", (t) => {
  const { paths } = tempHome(t);
  const db = openDb(paths.dbFile);
  t.after(() => db.$client.close());
  const job = (id: string, submittedAtMs: number, status: 'loaded' | 'deleted' = 'loaded') =>
    insertJob(db, {
      id,
      name: id,
      startAtMs: 0,
      intervalSeconds: 1,
      callbackUrl: 'https://x.example/run',
      callbackBody: { body: {} },
      status,
      submittedAtMs,
      nextSlotIndex: 0,
      updatedAtMs: 0,
    });
  for (const [id, at] of [
    ['c', 2],
    ['a', 1],
    ['b', 2],
    ['d', 3],
  ] as const)
    job(id, at);
  job('e', 2, 'deleted');
  const ids = (after: { submittedAtMs: number; id: string } | null, showDeleted: boolean, chunkRows: number) =>
    [...iterateJobChunks(db, { after, showDeleted, chunkRows })].map((chunk) => chunk.map((j) => j.id));
  assert.deepEqual(ids(null, false, 2), [
    ['a', 'b'],
    ['c', 'd'],
  ]);
  assert.deepEqual(ids(null, true, 10), [['a', 'b', 'c', 'e', 'd']]);
  assert.deepEqual(ids({ submittedAtMs: 2, id: 'b' }, false, 10), [['c', 'd']], 'after (2, b): the tie c, then d');
  assert.deepEqual(ids({ submittedAtMs: 3, id: 'd' }, false, 10), []);

  const run = (jobId: string, slotAtMs: number) => insertRun(db, { jobId, slotAtMs, requestId: randomUUID(), firedAtMs: slotAtMs, retryUntilMs: slotAtMs })!.id;
  run('a', 1);
  const newestOfA = run('a', 2);
  const onlyOfC = run('c', 1);
  run('d', 5);
  const newestOfD = run('d', 6);
  const newest = newestRunOfEach(db, ['a', 'b', 'c', 'd', 'nope']);
  assert.deepEqual(
    [...newest].map(([jobId, r]) => [jobId, r.id]).sort(),
    [
      ['a', newestOfA],
      ['c', onlyOfC],
      ['d', newestOfD],
    ].sort(),
  );
  assert.equal(newestRunOfEach(db, []).size, 0);
});

/** The inode numbers this process holds POSIX locks on (/proc/locks), or null where there is no /proc/locks. */
function lockedInodes(pid: number): Set<number> | null {
  let text: string;
  try {
    text = fs.readFileSync('/proc/locks', 'utf8');
  } catch {
    return null;
  }
  const inodes = new Set<number>();
  for (const line of text.split('\n')) {
    const f = line.split(/\s+/);
    // "1: POSIX  ADVISORY  READ 4242 00:2e:1234 128 128"
    const at = f.indexOf('POSIX');
    if (at < 0 || Number(f[at + 3]) !== pid) continue;
    inodes.add(Number(f[at + 4]?.split(':')[2]));
  }
  return inodes;
}

test('the daemon keeps its SQLite lock on the -shm file it found at start, so another process opening the database cannot reset it under the daemon (SIGBUS)', async (t) => {
  const { env: base, paths } = tempHome(t);
  const ap = await startFakeProvider();
  t.after(() => ap.close());
  ap.defaultRunReply = { kind: 'accept', httpStatus: 202, final: 'SUCCEEDED' };
  const env = { ...base, ...FAST_POLLING, GLOBUS_TIMER_NO_AUTOSTART: '1' };
  // A database whose -shm exists when the daemon opens it (as after every restart): another
  // connection holds it open meanwhile.
  const first = openDb(paths.dbFile);
  assert.ok(fs.existsSync(`${paths.dbFile}-shm`));
  const daemon = await startDaemonProcess(t, env);
  first.$client.close();
  const submitted = await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      runCliProcess(['job', 'submit', '--interval', '1s', '--action-url', ap.runUrl, '--action-body', '{"body": {}}', '--name', `j${i}`], env),
    ),
  );
  for (const r of submitted) assert.equal(r.code, 0, r.stderr);
  const shmInode = fs.statSync(`${paths.dbFile}-shm`).ino;
  const held = lockedInodes(daemon.proc.pid!);
  if (held !== null) assert.ok(held.has(shmInode), `the daemon holds no lock on ${paths.dbFile}-shm (inode ${shmInode})`);
  // What a backup or the sqlite3 shell does: open, read, close, again and again, while the jobs fire.
  const until = Date.now() + 2_000;
  while (Date.now() < until && daemon.proc.exitCode === null && daemon.proc.signalCode === null) {
    const reader = new Database(paths.dbFile, { readonly: true, fileMustExist: true });
    reader.prepare('SELECT count(*) FROM jobs').get();
    reader.close();
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(daemon.proc.signalCode, null, `the daemon died of ${daemon.proc.signalCode}`);
  assert.equal((await runCliProcess(['job', 'list'], env)).code, 0, 'the daemon still answers');
});
