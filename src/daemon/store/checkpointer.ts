import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../log/logger.ts';
import type { Db } from './open.ts';

/**
 * WAL checkpoints on a worker thread. SQLite's automatic checkpoint runs inside whichever
 * commit crosses 1,000 WAL pages and copies pages plus fsyncs on the committing thread: in
 * the benchmark that was a 20–34 ms stall of the event loop every ~2 s, the whole of the
 * p99 fire lateness. Here the main connection never checkpoints (wal_autocheckpoint = 0);
 * a second connection on a worker runs PASSIVE checkpoints (which never block writers)
 * every `intervalMs`. If the worker fails, automatic checkpoints are switched back on.
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
parentPort.on('message', () => { clearInterval(timer); checkpoint(); db.close(); parentPort.close(); });
`;

const AUTO_CHECKPOINT_PAGES = 1000;

export function startCheckpointer(db: Db, file: string, log: Logger, intervalMs = 1_000): { stop(): Promise<void> } {
  const modulePath = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, modulePath, intervalMs } });
  db.$client.pragma('wal_autocheckpoint = 0');
  let stopped = false;
  const fallBack = (why: unknown) => {
    if (stopped) return;
    stopped = true;
    log.error({ err: why }, 'checkpoint worker failed; SQLite checkpoints on the main thread again');
    db.$client.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
  };
  worker.on('message', (m: { error?: string }) => log.warn({ error: m.error }, 'background checkpoint failed'));
  worker.on('error', fallBack);
  worker.on('exit', (code) => {
    if (!stopped && code !== 0) fallBack(new Error(`exit ${code}`));
  });
  worker.unref();
  return {
    async stop() {
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
