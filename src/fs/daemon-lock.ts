import fs from 'node:fs';
import { DaemonAlreadyRunningError } from '../core/errors.ts';
import { openPrivateFile, readPrivateFile } from './private.ts';

const PID_FILE = 'pid file';

/**
 * A pid file created with O_EXCL keeps a second daemon off the same database, even when
 * two start at the same moment. A file left by a killed daemon (its pid no longer alive)
 * is taken over. Returns the release function.
 */
export function acquirePidLock(lockFile: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeNewPidFile(lockFile);
      return () => {
        try {
          if (readPrivateFile(lockFile, PID_FILE)?.trim() === String(process.pid)) fs.rmSync(lockFile);
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    // A planted link or someone else's file is refused here (UNSAFE_PATH), not believed.
    const pid = Number.parseInt(readPrivateFile(lockFile, PID_FILE) ?? '', 10);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isProcessAlive(pid)) {
      throw new DaemonAlreadyRunningError(`pid ${pid}`);
    }
    fs.rmSync(lockFile, { force: true });
  }
  // Recreated between our two tries: another daemon is starting at this very moment.
  throw new DaemonAlreadyRunningError(`it has just taken ${lockFile}`);
}

/** O_CREAT|O_EXCL|O_NOFOLLOW (src/fs/private.ts): EEXIST when the file, or a link, is there. */
function writeNewPidFile(lockFile: string): void {
  const { fd } = openPrivateFile(lockFile, PID_FILE, { create: 'new', access: 'write' });
  try {
    fs.writeFileSync(fd, `${process.pid}\n`);
  } finally {
    fs.closeSync(fd);
  }
}

/** Whether a process with this pid exists (EPERM: it does, but belongs to someone else). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
