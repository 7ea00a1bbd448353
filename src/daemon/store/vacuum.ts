import type { Db } from './open.ts';

/**
 * Freed pages back to the file system (issue 17 item 2). Compaction and retention free pages
 * inside the file; SQLite reuses them, but the file never shrinks unless the store is in
 * incremental auto-vacuum mode and `PRAGMA incremental_vacuum` is run — in small steps, so a
 * step never holds up a fire (daemon/compaction.ts calls it between fires).
 */

const INCREMENTAL = 2;

/** Free pages kept for reuse (SQLite reuses them before it grows the file): below this, nothing is given back. */
const FREE_BYTES_KEPT = 4 << 20;

/**
 * A store made before incremental auto-vacuum (every store before issue 17) is converted once,
 * at start: the mode only takes effect through a VACUUM, which rewrites the whole file (the WAL
 * grows to the file's size meanwhile; a second at a few hundred MB). New stores are created in
 * the mode (open.ts sets it before the first table). Returns how long it took, null when there
 * was nothing to do; throws when it could not (a full disk): the daemon goes on without.
 */
export function convertToIncrementalVacuum(db: Db): number | null {
  const sqlite = db.$client;
  if (sqlite.pragma('auto_vacuum', { simple: true }) === INCREMENTAL) return null;
  const startedMs = Date.now();
  sqlite.pragma('auto_vacuum = INCREMENTAL');
  sqlite.exec('VACUUM');
  return Date.now() - startedMs;
}

/**
 * Give back up to `maxPages` free pages beyond FREE_BYTES_KEPT (one short write). Returns how
 * many were given back: 0 when nothing is to be given (or the store is not in the mode).
 */
export function giveBackFreePages(db: Db, maxPages: number): number {
  const sqlite = db.$client;
  const free = sqlite.pragma('freelist_count', { simple: true }) as number;
  const pageSize = sqlite.pragma('page_size', { simple: true }) as number;
  const surplus = Math.min(maxPages, free - Math.floor(FREE_BYTES_KEPT / pageSize));
  if (surplus <= 0 || sqlite.pragma('auto_vacuum', { simple: true }) !== INCREMENTAL) return 0;
  sqlite.pragma(`incremental_vacuum(${surplus})`);
  return free - (sqlite.pragma('freelist_count', { simple: true }) as number);
}
