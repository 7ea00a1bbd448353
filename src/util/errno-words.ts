/**
 * What a system error code means, in the words a message shows the user ("cannot read
 * --action-file x.json: no such file") instead of the bare code (`ENOENT`). One table, so
 * every message that reports a file or a connection says the same thing for the same code.
 */
const ERRNO_WORDS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EISDIR: 'is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ELOOP: 'too many symbolic links (or one where none is allowed)',
  EEXIST: 'already exists',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'name too long',
  EADDRINUSE: 'address already in use',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'the host name could not be looked up',
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EPIPE: 'the other end closed the connection',
};

/** The words for `code` (an `err.code` such as `ENOENT`), or undefined for a code not in the table. */
export function describeErrno(code: unknown): string | undefined {
  return typeof code === 'string' && Object.hasOwn(ERRNO_WORDS, code) ? ERRNO_WORDS[code] : undefined;
}
