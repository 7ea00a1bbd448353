import { randomFill } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
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
// An idle daemon's every second costs next to nothing (issue 18: idle CPU): no checkpoint
// while nothing was committed since one that copied every frame (data_version changes when
// another connection commits), and the main thread is told only when it asked (caughtUp).
let wanted = false;
let caughtUpAt = -1;
const dataVersion = db.prepare('PRAGMA data_version').pluck();
const checkpoint = () => {
  try {
    const version = dataVersion.get();
    if (version === caughtUpAt && !wanted) return;
    const [r] = db.pragma('wal_checkpoint(PASSIVE)');
    // Every frame copied: the next commit starts the WAL over.
    const done = r.busy === 0 && r.log === r.checkpointed;
    caughtUpAt = done ? version : -1;
    if (done && wanted) { wanted = false; parentPort.postMessage({ caughtUp: true }); }
  } catch (err) { caughtUpAt = -1; parentPort.postMessage({ error: String(err && err.message) }); }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m === 'checkpoint') { wanted = true; return checkpoint(); }
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

/** The WAL is looked at for changes (to start the worker) every this many checkpoint intervals, or at each rest check if that is sooner. */
const WATCH_INTERVALS = 5;

/** The worker ends once the WAL has not changed for this long. */
const WORKER_RETIRE_MS = 60_000;

/**
 * Room held back for a full disk (issue 17 item 3): a file of RESERVE_BYTES beside the
 * database (`timer.db-reserve`), deleted when commits start to fail (`truncateNow`). Without
 * it a disk that the store itself filled never comes back: a checkpoint copies the WAL's new
 * pages past the database's end, so the file must grow, and every write — compaction's and
 * retention's deletes too — must grow the WAL; measured on a full tmpfs, PASSIVE and TRUNCATE
 * checkpoints, a DELETE and a one-row UPDATE all fail with SQLITE_FULL, for good. With the
 * reserve gone the checkpoint completes, the WAL is truncated (or starts over), and compaction
 * frees pages inside the file. Big enough for the few seconds of growth a checkpoint lags
 * behind (~1 MB/s at 200 fires/s with 4 KB documents). Made again once commits work, as much
 * of it as the file system has room for (RESERVE_ROOM_BYTES besides). Random bytes: a compressing file
 * system would hold zeros in no space at all.
 */
const RESERVE_BYTES = 8 << 20;
/**
 * What must stay free beside the reserve as it is made. Small: a reserve not made again before
 * the store next fills the disk leaves a full disk with no way back.
 */
const RESERVE_ROOM_BYTES = 1 << 20;
/** The reserve is made, or grown, this much at a time (what fits). */
const RESERVE_STEP_BYTES = 1 << 20;

export interface Checkpointer {
  stop(): Promise<void>;
  /** From now on, truncate an oversized WAL whenever `idle()` says the daemon is idle (daemon.ts). */
  truncateWhen(idle: () => boolean): void;
  /** Truncate the WAL now, idle or not: commits are failing for lack of space, and the WAL is space of ours (so is the reserve: deleted first). */
  truncateNow(): void;
  /** From now on, keep the reserve (RESERVE_BYTES beside the database) whenever `writable()` says commits work (daemon.ts). */
  reserveWhen(writable: () => boolean): void;
  /**
   * Checkpoint now; resolves after a checkpoint that copied every frame (so the WAL starts
   * over), or after `timeoutMs`: a bulk writer (daemon/compaction.ts) waits for it now and then, or
   * under its steady writes no checkpoint would ever catch up and the WAL would grow without
   * end (1.8 GB for a 48 MB store, measured).
   */
  caughtUp(timeoutMs: number): Promise<void>;
  /** Whether the worker runs now (it starts when there is something to checkpoint, and ends when idle). */
  readonly running: boolean;
}

const AUTO_CHECKPOINT_PAGES = 1000;

export function startCheckpointer(
  db: Db,
  file: string,
  log: Logger,
  { intervalMs = 1_000, restCheckMs = REST_CHECK_MS, retireMs = WORKER_RETIRE_MS } = {},
): Checkpointer {
  const modulePath = createRequire(import.meta.url).resolve('better-sqlite3');
  db.$client.pragma('wal_autocheckpoint = 0');
  db.$client.pragma(`journal_size_limit = ${WAL_AT_REST_BYTES}`);
  let stopped = false;
  let idle: (() => boolean) | null = null;
  let writable: (() => boolean) | null = null;
  const reserveFile = `${file}-reserve`;
  let reserving = false;
  /** Bumped by each truncateNow: a reserve written meanwhile is deleted again. */
  let shortages = 0;
  const reserveFailureLog = new OncePer(60_000);
  /** The reserve is whole: nothing to look at (three file-system calls a second at idle) until truncateNow takes it. */
  let reserveWhole = false;
  const keepReserve = () => {
    if (stopped || reserving || reserveWhole || !writable?.()) return;
    let have = 0;
    let more: number;
    try {
      have = fs.existsSync(reserveFile) ? fs.statSync(reserveFile).size : 0;
      const st = fs.statfsSync(path.dirname(file));
      // What fits, in whole steps: on a disk too small for all of it, part of the reserve is
      // still a way back (what a checkpoint lags behind is about a MB); grown when room comes.
      more = Math.floor(Math.min(RESERVE_BYTES - have, st.bavail * st.bsize - RESERVE_ROOM_BYTES) / RESERVE_STEP_BYTES) * RESERVE_STEP_BYTES;
    } catch {
      return;
    }
    if (more <= 0) return;
    reserving = true;
    const seen = shortages;
    growReserve(reserveFile, more)
      .then(() => {
        if (shortages !== seen) fs.rmSync(reserveFile, { force: true });
        else reserveWhole = have + more >= RESERVE_BYTES;
        if (reserveWhole) unwatchReserve();
      })
      .catch((err: unknown) => {
        // Back to what it was (a full disk took the rest meanwhile); gone if truncateNow took it since.
        try {
          if (have > 0 && shortages === seen) fs.truncateSync(reserveFile, have);
          else fs.rmSync(reserveFile, { force: true });
        } catch {
          // already gone
        }
        if (reserveFailureLog.take()) log.warn({ err }, 'could not set space aside for a full disk; trying again (logged once a minute)');
      })
      .finally(() => {
        reserving = false;
      });
  };
  // As often as checkpoints, not at the rest check: under load the WAL takes back within a
  // second or two whatever a spell freed, and a reserve not made by then is no reserve at the
  // next spell (torture disk-self-full: with a whole reserve or none, looked at every 5 s, 4
  // runs in 10 had a spell that never ended).
  // Only while the reserve is not whole: at idle a tick a second that does nothing is still a wake-up.
  let reserveCheck: NodeJS.Timeout | null = null;
  const watchReserve = () => {
    reserveCheck ??= setInterval(keepReserve, intervalMs).unref();
  };
  const unwatchReserve = () => {
    if (reserveCheck) clearInterval(reserveCheck);
    reserveCheck = null;
  };
  watchReserve();
  /**
   * The worker runs only while there is something to checkpoint (issue 18: idle RSS and CPU):
   * a worker with its own V8 and SQLite is 17 MiB of RSS (8 of them kept by the allocator
   * after it ends) and a wake-up a second. It starts when the WAL changed (seen every
   * `watchMs`: meanwhile the WAL grows by those seconds' commits at most, then the checkpoints
   * catch up), when a checkpoint or a truncate is asked for, and at start when the WAL holds
   * frames; it ends once the WAL has not changed for WORKER_RETIRE_MS.
   */
  let worker: Worker | null = null;
  const spawn = (): Worker | null => {
    if (stopped) return null;
    if (worker) return worker;
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, modulePath, intervalMs } });
    w.on('message', (m: { error?: string; caughtUp?: true }) => {
      if (m.caughtUp) return wake();
      const told = failureLog.take();
      if (told) log.warn({ error: m.error, notLogged: told.held }, 'background checkpoint failed (logged once a minute while it fails)');
    });
    w.on('error', (err) => {
      if (w === worker) fallBack(err);
    });
    w.on('exit', (code) => {
      if (w === worker && !stopped && code !== 0) fallBack(new Error(`exit ${code}`));
    });
    w.unref();
    worker = w;
    return w;
  };
  const post = (message: 'checkpoint' | 'truncate') => spawn()?.postMessage(message);
  const walState = (): { bytes: number; stamp: string } | null => {
    try {
      const st = fs.statSync(`${file}-wal`);
      return { bytes: st.size, stamp: `${st.size}:${st.mtimeMs}` };
    } catch {
      return null; // no WAL file: nothing to checkpoint or shrink
    }
  };
  // Opening the store commits (the migrator's bookkeeping): a WAL that small is emptied here,
  // before anything is due, rather than with a worker; a larger one (a crash's) gets the worker.
  let atStart = walState();
  if (atStart && atStart.bytes > 0 && atStart.bytes <= WAL_AT_REST_BYTES) {
    try {
      db.$client.pragma('wal_checkpoint(TRUNCATE)');
      atStart = walState();
    } catch {
      // busy (a CLI reading): the worker does it
    }
  }
  let walStamp = atStart?.stamp ?? null;
  let walChangedAtMs = performance.now();
  let restCheckedAtMs = walChangedAtMs;
  if (atStart && atStart.bytes > 0) spawn();
  const watchMs = Math.min(restCheckMs, WATCH_INTERVALS * intervalMs);
  const watch = setInterval(() => {
    if (stopped) return;
    const wal = walState();
    const nowMs = performance.now();
    if (wal && wal.stamp !== walStamp) {
      walStamp = wal.stamp;
      walChangedAtMs = nowMs;
      spawn();
    } else if (worker && nowMs - walChangedAtMs >= retireMs && waiting.length === 0) {
      // Checkpoints once more, closes its connection and ends (code 0); a need after this starts another.
      worker.postMessage('stop');
      worker = null;
    }
    if (nowMs - restCheckedAtMs < restCheckMs) return;
    restCheckedAtMs = nowMs;
    if (wal && wal.bytes > WAL_AT_REST_BYTES && idle?.()) post('truncate');
  }, watchMs).unref();
  const fallBack = (why: unknown) => {
    if (stopped) return;
    stopped = true;
    wake();
    log.error({ err: why }, 'checkpoint worker failed; SQLite checkpoints on the main thread again');
    db.$client.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
  };
  // A full disk fails every checkpoint: said once a minute while it lasts.
  const failureLog = new OncePer(60_000);
  let waiting: (() => void)[] = [];
  const wake = () => {
    for (const resolve of waiting) resolve();
    waiting = [];
  };
  return {
    get running() {
      return worker !== null;
    },
    truncateWhen(isIdle) {
      idle = isIdle;
    },
    truncateNow() {
      shortages += 1;
      reserveWhole = false;
      if (!stopped) watchReserve();
      // Before the checkpoint: it is what needs the room (the database grows by the WAL's new pages).
      fs.rmSync(reserveFile, { force: true });
      post('truncate');
    },
    reserveWhen(isWritable) {
      writable = isWritable;
      keepReserve();
    },
    caughtUp(timeoutMs) {
      if (stopped) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        waiting.push(() => {
          clearTimeout(timer);
          resolve();
        });
        // One now, not at the next tick of the interval; if a write lands meanwhile, the ticks go on trying.
        post('checkpoint');
      });
    },
    async stop() {
      clearInterval(watch);
      unwatchReserve();
      if (stopped) return;
      stopped = true;
      wake();
      const w = worker;
      if (w) {
        // Kept alive until it has checkpointed and closed (it is unref'd while running).
        w.ref();
        const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
        w.postMessage('stop');
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, 2_000)))]);
        clearTimeout(timer);
        await w.terminate();
      }
      db.$client.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
    },
  };
}

/** Append `bytes` random bytes to `file` (made 0600), off the event loop. */
async function growReserve(file: string, bytes: number): Promise<void> {
  const buf = Buffer.alloc(bytes);
  await promisify(randomFill)(buf);
  // Never through a link planted in its place (the directory is ours and private, checked at start: belt and braces).
  const { O_WRONLY, O_CREAT, O_APPEND, O_NOFOLLOW } = fs.constants;
  await fs.promises.appendFile(file, buf, { mode: 0o600, flag: O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW });
}
