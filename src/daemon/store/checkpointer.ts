import fs from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../log/logger.ts';
import { OncePer } from '../../util/once-per.ts';
import type { Db } from './open.ts';

/**
 * WAL checkpoints on a worker thread. SQLite's automatic checkpoint runs inside whichever
 * commit crosses 1,000 WAL pages and copies pages plus fsyncs on the committing thread: in
 * the benchmark that was a 20–34 ms stall of the event loop every ~2 s, the whole of the
 * p99 fire lateness. Here the main connection never checkpoints (wal_autocheckpoint = 0);
 * a second connection on a worker runs PASSIVE checkpoints (which never block writers)
 * every `intervalMs`. If the worker fails, automatic checkpoints are switched back on.
 *
 * The WAL file does not shrink by itself: a burst leaves it as large as the burst made it.
 * Two things bound it (issue 17): `journal_size_limit`, so that when the main connection
 * starts the WAL over (its first commit after a checkpoint that copied every frame) it cuts
 * the file back to WAL_AT_REST_BYTES; and, when the daemon is idle (nothing due soon,
 * nothing in flight: `truncateWhen`) and the file is still larger, a TRUNCATE checkpoint on
 * the worker. TRUNCATE holds writers back while it runs, which is why it waits for an idle
 * moment: a checkpointed WAL truncates in well under a millisecond, an idle daemon writes
 * nothing meanwhile.
 */
const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.modulePath);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 1000');
const checkpoint = () => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch (err) { parentPort.postMessage({ error: String(err && err.message) }); }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m === 'truncate') {
    // Busy (a reader, a writer after all): not an error, the next idle moment tries again.
    try { db.pragma('wal_checkpoint(TRUNCATE)'); } catch (err) { if (!/busy|locked/i.test(String(err && err.message))) parentPort.postMessage({ error: String(err && err.message) }); }
    return;
  }
  clearInterval(timer); checkpoint(); db.close(); parentPort.close();
});
`;

/** The WAL's size at rest: what journal_size_limit cuts it back to, and above which an idle daemon truncates it. */
export const WAL_AT_REST_BYTES = 4 << 20;

/** How often the WAL's size is looked at, for a TRUNCATE when idle. */
const REST_CHECK_MS = 5_000;

export interface Checkpointer {
  stop(): Promise<void>;
  /** From now on, truncate an oversized WAL whenever `idle()` says the daemon is idle (daemon.ts). */
  truncateWhen(idle: () => boolean): void;
  /** Truncate the WAL now, idle or not: commits are failing for lack of space, and the WAL is space of ours. */
  truncateNow(): void;
}

const AUTO_CHECKPOINT_PAGES = 1000;

export function startCheckpointer(db: Db, file: string, log: Logger, { intervalMs = 1_000, restCheckMs = REST_CHECK_MS } = {}): Checkpointer {
  const modulePath = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, modulePath, intervalMs } });
  db.$client.pragma('wal_autocheckpoint = 0');
  db.$client.pragma(`journal_size_limit = ${WAL_AT_REST_BYTES}`);
  let stopped = false;
  let idle: (() => boolean) | null = null;
  const rest = setInterval(() => {
    if (stopped || !idle) return;
    let walBytes: number;
    try {
      walBytes = fs.statSync(`${file}-wal`).size;
    } catch {
      return; // no WAL file: nothing to shrink
    }
    if (walBytes > WAL_AT_REST_BYTES && idle()) worker.postMessage('truncate');
  }, restCheckMs).unref();
  const fallBack = (why: unknown) => {
    if (stopped) return;
    stopped = true;
    log.error({ err: why }, 'checkpoint worker failed; SQLite checkpoints on the main thread again');
    db.$client.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
  };
  // A full disk fails every checkpoint: said once a minute while it lasts.
  const failureLog = new OncePer(60_000);
  worker.on('message', (m: { error?: string }) => {
    const told = failureLog.take();
    if (told) log.warn({ error: m.error, notLogged: told.held }, 'background checkpoint failed (logged once a minute while it fails)');
  });
  worker.on('error', fallBack);
  worker.on('exit', (code) => {
    if (!stopped && code !== 0) fallBack(new Error(`exit ${code}`));
  });
  worker.unref();
  return {
    truncateWhen(isIdle) {
      idle = isIdle;
    },
    truncateNow() {
      if (!stopped) worker.postMessage('truncate');
    },
    async stop() {
      clearInterval(rest);
      if (stopped) return;
      stopped = true;
      // Kept alive until it has checkpointed and closed (it is unref'd while running).
      worker.ref();
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.postMessage('stop');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, 2_000)))]);
      clearTimeout(timer);
      await worker.terminate();
      db.$client.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
    },
  };
}
