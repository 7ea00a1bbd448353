/**
 * Issue 17 item 3: the space the checkpointer holds back for a full disk (checkpointer.ts
 * RESERVE_BYTES). Without it a disk the store itself filled never comes back (every write and
 * every checkpoint needs room); with it, the first failed commit deletes it and the daemon
 * recovers (torture/scenarios/disk-self-full.ts). Here: it is made once commits work, given
 * back by truncateNow, and not made again while commits fail.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startCheckpointer } from '../src/daemon/store/checkpointer.ts';
import { openDb } from '../src/daemon/store/open.ts';
import { silentLogger } from '../src/log/logger.ts';

const size = (file: string) => (fs.existsSync(file) ? fs.statSync(file).size : 0);

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('the reserve is made while commits work, deleted by truncateNow, and not made again until they work', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-reserve-'));
  const file = path.join(dir, 'timer.db');
  const reserve = `${file}-reserve`;
  const db = openDb(file);
  const checkpointer = startCheckpointer(db, file, silentLogger(), { intervalMs: 20, restCheckMs: 1_000 });
  t.after(async () => {
    await checkpointer.stop();
    db.$client.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  assert.equal(size(reserve), 0, 'none before the daemon asks for it');
  let writable = true;
  checkpointer.reserveWhen(() => writable);
  await until('the reserve to be made', () => size(reserve) === 8 << 20);
  assert.equal(fs.statSync(reserve).mode & 0o777, 0o600);
  // Not zeros: a compressing file system would keep those in no space.
  const head = Buffer.alloc(4096);
  const fd = fs.openSync(reserve, 'r');
  fs.readSync(fd, head, 0, head.length, 0);
  fs.closeSync(fd);
  assert.ok(head.some((b) => b !== 0));

  writable = false;
  checkpointer.truncateNow();
  assert.equal(fs.existsSync(reserve), false, 'the first thing a failed commit gives back');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(fs.existsSync(reserve), false, 'not made again while commits fail');
  writable = true;
  await until('the reserve to be made again', () => size(reserve) === 8 << 20);
});
