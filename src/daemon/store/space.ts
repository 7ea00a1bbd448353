/**
 * How much room the store takes and has (issue 17 item 3), for `daemon status`: the database
 * file, its WAL, and the free space of the file system they are on.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { StoreSpace } from '../../contract/protocol.ts';

/**
 * Free space below which `daemon status` warns: 1 GiB, or twice the store, whichever is more
 * (a store that cannot grow to twice its size cannot be compacted or vacuumed either).
 */
const LOW_SPACE_FLOOR_BYTES = 1 << 30;

function sizeOf(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

export function storeSpace(dbFile: string, writesFailing: boolean): StoreSpace {
  const dbBytes = sizeOf(dbFile);
  const walBytes = sizeOf(`${dbFile}-wal`);
  let freeBytes: number | null = null;
  try {
    const fsStats = fs.statfsSync(path.dirname(dbFile));
    // bavail: what an unprivileged process may still use (bfree includes the root reserve).
    freeBytes = fsStats.bavail * fsStats.bsize;
  } catch {
    // No statfs here: the size is still told, the free space is not.
  }
  const lowSpace = freeBytes !== null && freeBytes < Math.max(LOW_SPACE_FLOOR_BYTES, 2 * (dbBytes + walBytes));
  return { db_bytes: dbBytes, wal_bytes: walBytes, free_bytes: freeBytes, low_space: lowSpace, writes_failing: writesFailing };
}
