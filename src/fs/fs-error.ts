import { describeErrno } from '../util/errno-words.ts';
import { FileSystemError } from '../core/errors.ts';

/**
 * A failed file system call, as one line a user can act on: what could not be done, to
 * which file or directory, why in words (util/errno-words.ts) with the code for searching, and
 * the fix: `cannot create the state directory /x/y: read-only file system (EROFS); set
 * GLOBUS_TIMER_HOME to a writable directory`. The daemon's start and the CLI both report
 * through this (daemon/main.ts, cli/main.ts), so node's `EROFS: read-only file system,
 * mkdir '/x/y'` never reaches the user.
 */

const ELSEWHERE = 'set GLOBUS_TIMER_HOME to a writable directory of your own';

/** What the user can do, for the codes where the fix is theirs; other codes stay node's errors. */
const FIXES: Readonly<Record<string, string>> = {
  EROFS: 'set GLOBUS_TIMER_HOME to a writable directory',
  EACCES: `check the permissions of it and of the directories above it, or ${ELSEWHERE}`,
  EPERM: `check the permissions of it and of the directories above it, or ${ELSEWHERE}`,
  ENOSPC: 'free some disk space, or set GLOBUS_TIMER_HOME to a directory on another disk',
  EDQUOT: 'free some of your disk quota, or set GLOBUS_TIMER_HOME to a directory on another disk',
  ENOTDIR: `move that file away, or ${ELSEWHERE}`,
};

/** The failed system call as a verb; one not listed is "use". */
const VERBS: Readonly<Record<string, string>> = {
  mkdir: 'create',
  open: 'open',
  lstat: 'check',
  stat: 'check',
  fstat: 'check',
  realpath: 'check',
  access: 'check',
  read: 'read',
  scandir: 'read',
  readlink: 'read',
  write: 'write',
  fsync: 'write',
  ftruncate: 'write',
  unlink: 'remove',
  rmdir: 'remove',
  rm: 'remove',
  rename: 'rename',
  chmod: 'change the mode of',
  fchmod: 'change the mode of',
  bind: 'listen on',
  listen: 'listen on',
};

/** Where it happened, when the caller knows better than the error: `what` names it ("state directory"). */
export interface FsTarget {
  what: string;
  path: string;
}

/**
 * `err` as a FileSystemError when it is a file system error with a fix in FIXES, else null
 * (the caller throws `err` as it is). Without `target`, the error's own path is named.
 */
export function fileSystemError(err: unknown, target?: FsTarget): FileSystemError | null {
  const e = err as Partial<NodeJS.ErrnoException> | null;
  const code = e?.code;
  if (typeof code !== 'string' || !Object.hasOwn(FIXES, code)) return null;
  const where = target ? `the ${target.what} ${target.path}` : e?.path;
  if (!where) return null;
  const verb = (e?.syscall && VERBS[e.syscall]) ?? 'use';
  return new FileSystemError(`cannot ${verb} ${where}: ${describeErrno(code) ?? code} (${code}); ${FIXES[code]}`, { cause: err });
}

/** Run `fn`; a file system error it throws is reported as about `target` (fileSystemError). */
export function namingFsErrors<T>(target: FsTarget, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fileSystemError(err, target) ?? err;
  }
}
