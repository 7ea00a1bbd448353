import fs from 'node:fs';
import { DaemonAlreadyRunningError } from '../errors.ts';

/**
 * A pid file created with O_EXCL keeps a second daemon off the same database, even when
 * two start at the same moment. A file left by a killed daemon (its pid no longer alive)
 * is taken over. Returns the release function.
 */
export function acquirePidLock(lockFile: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lockFile, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return () => {
        try {
          if (fs.readFileSync(lockFile, 'utf8').trim() === String(process.pid)) fs.rmSync(lockFile);
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const pid = Number.parseInt(fs.readFileSync(lockFile, 'utf8'), 10);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isProcessAlive(pid)) {
      throw new DaemonAlreadyRunningError(`pid ${pid} holds ${lockFile}`);
    }
    fs.rmSync(lockFile, { force: true });
  }
  throw new DaemonAlreadyRunningError(`could not take ${lockFile}`);
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
