import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { UnsafePathError } from '../core/errors.ts';
import { fileSystemError, namingFsErrors } from './fs-error.ts';

/**
 * The one way globus-timer uses its directories, files and socket (SPEC §6, issue 11).
 * Another local user must not be able to hand us a directory, a file or a socket of theirs:
 * through a directory they made first (a predictable path), one they can write to, or a
 * symbolic link they planted. So:
 * - a directory we use is a real directory (lstat: not a symbolic link), owned by the user,
 *   with no group/other write bit, and every directory above it is safe too (see
 *   checkAncestors); one that is not is refused with a message naming the path and the
 *   fix, never repaired: a directory we did not create is never chmod-ed;
 * - a file we use is opened without following a symbolic link and judged by fstat of what
 *   was opened (no window between check and use): a regular file, the user's, one link;
 *   a mode open to group/others is tightened with fchmod on that fd, and failing to is fatal;
 * - the daemon's socket is checked before the CLI connects to it.
 * Refusals are UnsafePathErrors (code UNSAFE_PATH, exit 1 in the CLI). Other failures
 * the user can fix (EACCES, EROFS, ENOSPC, …) are FileSystemErrors naming the directory or
 * file by what it is for (fs-error.ts); the rest are thrown as they come.
 */

const { O_NOFOLLOW, O_NONBLOCK, O_CREAT, O_EXCL, O_RDONLY, O_WRONLY, O_APPEND } = fs.constants;

const GROUP_OTHER_WRITE = 0o022;
const GROUP_OTHER_ANY = 0o077;
const STICKY = 0o1000;
const ROOT_UID = 0;
const PRIVATE_DIR_MODE = 0o700;
const PRIVATE_FILE_MODE = 0o600;
const OWNER_BITS = 0o700;

/** The fix that always works, at the end of most messages. */
const USE_YOUR_OWN = 'set GLOBUS_TIMER_HOME to a directory of your own';

/** Our uid, or undefined where there are no uids (Windows), where these checks cannot apply. */
function myUid(): number | undefined {
  return process.getuid?.();
}

function modeText(mode: number): string {
  return (mode & 0o7777).toString(8);
}

function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * Check `dir` as a private directory. True: it exists and is safe to use. False: it does
 * not exist, and creating it would be safe (the directories above are). Anything else is
 * an UnsafePathError. `what` names the directory in messages ("state directory").
 */
export function checkPrivateDir(dir: string, what: string): boolean {
  const abs = path.resolve(dir);
  return namingFsErrors({ what, path: abs }, () => judgePrivateDir(abs, what));
}

function judgePrivateDir(abs: string, what: string): boolean {
  const uid = myUid();
  if (uid === undefined) return fs.existsSync(abs);
  const st = lstatOrNull(abs);
  if (!st) {
    checkAncestors(nearestExisting(abs), abs, what, uid);
    return false;
  }
  const refuse = (problem: string, fix: string) => new UnsafePathError(`${what} ${abs} ${problem}; ${fix}`);
  if (st.isSymbolicLink()) throw refuse('is a symbolic link', `replace it with a real directory, or ${USE_YOUR_OWN}`);
  if (!st.isDirectory()) throw refuse('is not a directory', `move it away, or ${USE_YOUR_OWN}`);
  if (st.uid !== uid) throw refuse(`is owned by uid ${st.uid}, not by you (uid ${uid})`, `remove it (another user may have created it), or ${USE_YOUR_OWN}`);
  if (st.mode & GROUP_OTHER_WRITE) {
    throw refuse(`is writable by group/others (mode ${modeText(st.mode)})`, `check what is in it, then chmod 700 ${abs}; or ${USE_YOUR_OWN}`);
  }
  checkAncestors(path.dirname(fs.realpathSync.native(abs)), abs, what, uid);
  return true;
}

/**
 * Make sure `dir` exists as a private directory: created 0700 if missing (missing parents
 * too, also 0700), then checked. A directory that already exists is only checked: never
 * chmod-ed, whoever made it.
 */
export function ensurePrivateDir(dir: string, what: string): void {
  if (checkPrivateDir(dir, what)) return;
  const abs = path.resolve(dir);
  namingFsErrors({ what, path: abs }, () => makeDirs(abs));
  // Judged afresh: another process (or user) may have made it first.
  if (!checkPrivateDir(abs, what)) throw new UnsafePathError(`${what} ${abs} vanished as it was created; run the command again`);
}

/**
 * `mkdir -p`, one directory at a time: node's recursive mkdir reports a read-only file
 * system as ENOENT, and the user must hear EROFS. Every directory created gets 0700 less
 * the umask; existing ones are untouched (one made meanwhile by another process is fine).
 */
function makeDirs(abs: string): void {
  const top = nearestExisting(abs);
  const missing: string[] = [];
  for (let p = abs; p !== top; p = path.dirname(p)) missing.unshift(p);
  for (const p of missing) {
    try {
      fs.mkdirSync(p, { mode: PRIVATE_DIR_MODE });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

/** The nearest directory above a missing `abs` that exists (at worst /). */
function nearestExisting(abs: string): string {
  let p = path.dirname(abs);
  while (p !== path.dirname(p) && !lstatOrNull(p)) p = path.dirname(p);
  return p;
}

/**
 * As OpenSSH's StrictModes: whoever may write to a directory above ours can rename ours
 * away and put their own in its place. So every directory from `from` up to /, on the real
 * path (symbolic links above us, as macOS's /tmp → /private/tmp, are resolved first), must
 * belong to the user or root, and one that others may write to must be sticky (as /tmp),
 * where they cannot rename what is not theirs. `/tmp/gt-x` made by us passes;
 * `/tmp/attacker-dir/home` does not.
 */
function checkAncestors(from: string, dir: string, what: string, uid: number): void {
  const rootUids = rootUidsHere();
  for (let p = fs.realpathSync.native(from); ; p = path.dirname(p)) {
    const st = fs.statSync(p);
    const refuse = (problem: string, fix: string) =>
      new UnsafePathError(`${what} ${dir} is inside ${p}, which ${problem}: another user could replace it; ${fix}`);
    if (st.uid !== uid && !rootUids.includes(st.uid)) throw refuse(`is owned by uid ${st.uid}`, USE_YOUR_OWN);
    if (st.mode & GROUP_OTHER_WRITE && !(st.mode & STICKY)) {
      throw refuse(`is writable by group/others without the sticky bit (mode ${modeText(st.mode)})`, `chmod go-w ${p}, or ${USE_YOUR_OWN}`);
    }
    if (p === path.dirname(p)) return;
  }
}

let rootUidsCache: number[] | undefined;

/**
 * The uids that stand for root when judging the directories above ours. Inside a user
 * namespace that does not map root (the systemd unit's `PrivateUsers=yes`, which maps only
 * the user), every root-owned directory (/, /home) shows as the kernel's overflow uid, so
 * that uid counts as root there too. The price: inside such a sandbox another user's
 * directory above ours looks the same as root's; `daemon install` and the CLI, which run
 * outside it, still tell them apart. Our own directories are judged by our own uid always.
 */
function rootUidsHere(): number[] {
  if (rootUidsCache) return rootUidsCache;
  rootUidsCache = [ROOT_UID];
  try {
    const ranges = fs
      .readFileSync('/proc/self/uid_map', 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/).map(Number));
    const rootMapped = ranges.some(([inside, , count]) => inside !== undefined && count !== undefined && inside <= ROOT_UID && ROOT_UID < inside + count);
    if (!rootMapped) rootUidsCache.push(Number(fs.readFileSync('/proc/sys/kernel/overflowuid', 'utf8').trim()) || 65534);
  } catch {
    // No /proc (macOS, BSD): no user namespaces either.
  }
  return rootUidsCache;
}

/**
 * Refuse a file of ours that another user could have planted or can reach: anything but a
 * regular file (a symbolic link, a FIFO), someone else's file, or a hard link to a file
 * elsewhere. `st` comes from fstat of an open fd, or lstat while scanning a directory.
 */
export function checkOwnFile(st: fs.Stats, file: string, what: string): void {
  const uid = myUid();
  if (uid === undefined) return;
  const refuse = (problem: string) => new UnsafePathError(`${what} ${file} ${problem}; remove it (another user may have planted it)`);
  if (st.isSymbolicLink()) throw refuse('is a symbolic link');
  if (!st.isFile()) throw refuse('is not a regular file');
  if (st.uid !== uid) throw refuse(`is owned by uid ${st.uid}, not by you (uid ${uid})`);
  if (st.nlink > 1) throw refuse(`has ${st.nlink} hard links`);
}

/** `never`: open an existing file only; `if-missing`: create it when absent; `new`: it must not exist (O_EXCL). */
export type CreateMode = 'never' | 'if-missing' | 'new';
export type FileAccess = 'read' | 'write' | 'append';

export interface OpenedPrivateFile {
  fd: number;
  /** fstat of the opened file, before any tightening. */
  stat: fs.Stats;
  /** The mode it had when it was open to group/others and got tightened; else null. */
  tightenedFromMode: number | null;
}

const ACCESS_FLAGS: Record<FileAccess, number> = { read: O_RDONLY, write: O_WRONLY, append: O_WRONLY | O_APPEND };

/**
 * Open a file of ours safely (see the module comment): O_NOFOLLOW, O_CREAT|O_EXCL when it
 * is created (a file that appears meanwhile is opened instead, and judged), O_NONBLOCK so a
 * planted FIFO cannot hang us before fstat refuses it (no effect on a regular file). The
 * caller closes `fd`. Null when the file is missing and `create` is 'never'.
 */
export function openPrivateFile(file: string, what: string, opts: { create: 'if-missing' | 'new'; access: FileAccess }): OpenedPrivateFile;
export function openPrivateFile(file: string, what: string, opts: { create: CreateMode; access: FileAccess }): OpenedPrivateFile | null;
export function openPrivateFile(file: string, what: string, { create, access }: { create: CreateMode; access: FileAccess }): OpenedPrivateFile | null {
  const flags = ACCESS_FLAGS[access] | O_NOFOLLOW | O_NONBLOCK;
  let fd: number | null = null;
  if (create === 'new') {
    fd = openOrNull(file, what, flags | O_CREAT | O_EXCL, null); // EEXIST is the caller's to handle
  } else {
    // Twice at most: a file created by someone else between our two opens is opened (and judged) the second time.
    for (let attempt = 0; attempt < 2 && fd === null; attempt++) {
      fd = openOrNull(file, what, flags, 'ENOENT');
      if (fd !== null || create === 'never') break;
      fd = openOrNull(file, what, flags | O_CREAT | O_EXCL, 'EEXIST');
    }
  }
  if (fd === null) return null;
  try {
    return { fd, ...judgeOpened(fd, file, what) };
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

/** open(2), with null for the one errno the caller expects, and a symbolic link refused by name. */
function openOrNull(file: string, what: string, flags: number, expected: string | null): number | null {
  try {
    return fs.openSync(file, flags, PRIVATE_FILE_MODE);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === expected) return null;
    // O_NOFOLLOW on a link: ELOOP on Linux and macOS, EMLINK on FreeBSD, EFTYPE on NetBSD.
    if (code === 'ELOOP' || code === 'EMLINK' || code === 'EFTYPE') {
      throw new UnsafePathError(`${what} ${file} is a symbolic link; remove it (another user may have planted it)`, { cause: err });
    }
    throw fileSystemError(err, { what, path: file }) ?? err;
  }
}

function judgeOpened(fd: number, file: string, what: string): Omit<OpenedPrivateFile, 'fd'> {
  const stat = fs.fstatSync(fd);
  checkOwnFile(stat, file, what);
  if ((stat.mode & GROUP_OTHER_ANY) === 0) return { stat, tightenedFromMode: null };
  tighten(stat, file, what, (mode) => fs.fchmodSync(fd, mode));
  return { stat, tightenedFromMode: stat.mode & 0o7777 };
}

/** Take group and other bits away with `chmod` (only away: a file the user made read-only stays read-only). */
function tighten(stat: fs.Stats, file: string, what: string, chmod: (mode: number) => void): void {
  const mode = stat.mode & OWNER_BITS;
  try {
    chmod(mode);
  } catch (err) {
    throw new UnsafePathError(
      `cannot make ${what} ${file} private (it has mode ${modeText(stat.mode)}; chmod ${modeText(mode)} failed: ${(err as Error).message}); fix its mode, or move it away`,
      { cause: err },
    );
  }
}

/** Read a whole file of ours as text (see openPrivateFile); null when it does not exist. */
export function readPrivateFile(file: string, what: string): string | null {
  const opened = openPrivateFile(file, what, { create: 'never', access: 'read' });
  if (!opened) return null;
  try {
    return fs.readFileSync(opened.fd, 'utf8');
  } finally {
    fs.closeSync(opened.fd);
  }
}

/** Make sure a file of ours is safe (see openPrivateFile) without reading it; false when it does not exist. */
export function securePrivateFile(file: string, what: string, create: CreateMode = 'never'): boolean {
  const opened = openPrivateFile(file, what, { create, access: 'read' });
  if (opened) fs.closeSync(opened.fd);
  return opened !== null;
}

/**
 * securePrivateFile for a file that SQLite holds open in this process (the database's -wal
 * and -shm files once a connection has them): judged by lstat and tightened by path, never
 * opened. Opening and closing any descriptor of a file drops every POSIX lock this process
 * holds on it (fcntl(2)); SQLite's lock on -shm gone, another process that opens the
 * database takes itself for the only user, truncates -shm, and the daemon dies of SIGBUS
 * on its mapping. By path is safe here: the file is in a private directory (checked before),
 * where no one else can swap it between the lstat and the chmod. False: there is none.
 */
export function securePrivateFileHeldOpen(file: string, what: string): boolean {
  const st = lstatOrNull(file);
  if (!st) return false;
  checkOwnFile(st, file, what);
  if ((st.mode & GROUP_OTHER_ANY) !== 0) tighten(st, file, what, (mode) => fs.chmodSync(file, mode));
  return true;
}

/**
 * Before the CLI connects: the socket's directory must be private (checkPrivateDir) and the
 * socket, when there is one, a socket of the user's that group and others cannot connect
 * to (the daemon makes it 0600; systemd's socket unit too, with SocketMode=0600). Otherwise
 * the "daemon" could be another user's, collecting every job submitted (URLs, bodies) and
 * answering what it likes. Connecting needs write permission, so only the write bits count:
 * a socket bound under the usual umask (0755, e.g. by systemd-socket-activate) is fine. A
 * missing socket or directory passes: nothing answers there.
 */
export function checkDaemonSocket(socketPath: string): void {
  if (!checkPrivateDir(path.dirname(socketPath), 'socket directory')) return;
  const uid = myUid();
  const st = lstatOrNull(socketPath);
  if (uid === undefined || !st) return;
  const refuse = (problem: string) =>
    new UnsafePathError(`daemon socket ${socketPath} ${problem}; it is not one your daemon made: remove it, then run the command again`);
  if (st.isSymbolicLink()) throw refuse('is a symbolic link');
  if (!st.isSocket()) throw refuse('is not a socket');
  if (st.uid !== uid) throw refuse(`is owned by uid ${st.uid}, not by you (uid ${uid})`);
  if (st.mode & GROUP_OTHER_WRITE) throw refuse(`can be connected to by group/others (mode ${modeText(st.mode)})`);
}

/**
 * Replace `file` with `text`, never seen half-written: a new private temp file beside it
 * (`<file>.<pid>.<hex>.tmp`), fsynced, then renamed into place. A crash leaves at most the
 * temp file, which the file's owner may sweep (token-cache.ts does).
 */
export function writePrivateFileAtomically(file: string, text: string, what: string): void {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const { fd } = openPrivateFile(tmp, `${what} (temporary)`, { create: 'new', access: 'write' });
  try {
    fs.writeFileSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}
