/**
 * Typed errors with stable codes. Code that fails throws one of these; only the edges
 * translate them: `daemon/rpc-server.ts` into a JSON-RPC error with `data.code`, the CLI into an
 * exit code. Tests check `code`, never the message text.
 */

export const ERROR_CODES = {
  INVALID_INPUT: 'INVALID_INPUT',
  JOB_NOT_FOUND: 'JOB_NOT_FOUND',
  /** The job is deleted: it never runs again (its history stays readable). */
  JOB_DELETED: 'JOB_DELETED',
  /** `job purge` refused: only a deleted job may be purged. */
  JOB_NOT_DELETED: 'JOB_NOT_DELETED',
  /**
   * `job run` refused: the previous run is in progress and the overlap policy is skip, or
   * (overlap allow) the job has its most runs in flight (maxRunsInFlightPerJob).
   */
  RUN_IN_PROGRESS: 'RUN_IN_PROGRESS',
  DAEMON_NOT_RUNNING: 'DAEMON_NOT_RUNNING',
  DAEMON_ALREADY_RUNNING: 'DAEMON_ALREADY_RUNNING',
  RPC_FAILED: 'RPC_FAILED',
  PROTOCOL_MISMATCH: 'PROTOCOL_MISMATCH',
  STORE_FAILED: 'STORE_FAILED',
  /** No usable Globus Auth token or consent: the user must log in (again). */
  AUTH_REQUIRED: 'AUTH_REQUIRED',
  /** Globus Auth could not be reached or failed; trying again later may work. */
  AUTH_UNAVAILABLE: 'AUTH_UNAVAILABLE',
  /** The token cache file is unreadable or malformed. */
  TOKEN_CACHE_INVALID: 'TOKEN_CACHE_INVALID',
  /** The Action Provider's introspection document could not tell the job's scope. */
  SCOPE_DISCOVERY_FAILED: 'SCOPE_DISCOVERY_FAILED',
  /**
   * A directory, file or socket another user could control (wrong owner, writable by
   * others, a symbolic link): refused rather than used or repaired (SPEC §6).
   */
  UNSAFE_PATH: 'UNSAFE_PATH',
  /**
   * A file or directory globus-timer needs cannot be created, read or written: a read-only
   * file system, no permission, a full disk (src/fs/fs-error.ts says which, in words).
   */
  FILE_SYSTEM: 'FILE_SYSTEM',
  INTERNAL: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

export class TimerError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TimerError';
    this.code = code;
  }
}

/** Bad input from a user or a client: a CLI flag, an RPC parameter. Exit 2 in the CLI. */
export class InvalidInputError extends TimerError {
  constructor(message: string, options?: ErrorOptions) {
    super(ERROR_CODES.INVALID_INPUT, message, options);
    this.name = 'InvalidInputError';
  }
}

export class JobNotFoundError extends TimerError {
  constructor(jobId: string) {
    super(ERROR_CODES.JOB_NOT_FOUND, `no job with id ${jobId}; list jobs with: globus-timer job list`);
    this.name = 'JobNotFoundError';
  }
}

export class JobDeletedError extends TimerError {
  constructor(jobId: string) {
    super(ERROR_CODES.JOB_DELETED, `job ${jobId} is deleted: it never runs again (its history stays readable: globus-timer job history ${jobId})`);
    this.name = 'JobDeletedError';
  }
}

export class DaemonNotRunningError extends TimerError {
  constructor(socketPath: string, options?: ErrorOptions) {
    super(
      ERROR_CODES.DAEMON_NOT_RUNNING,
      `daemon not running (no answer at ${socketPath}); start it with: globus-timer daemon start (or in the foreground: globus-timer daemon run)`,
      options,
    );
    this.name = 'DaemonNotRunningError';
  }
}

/** `detail` says how we know: `pid 123`, or `it answers on /run/…/daemon.sock`. */
export class DaemonAlreadyRunningError extends TimerError {
  constructor(detail: string) {
    super(ERROR_CODES.DAEMON_ALREADY_RUNNING, `a daemon is already running (${detail}): globus-timer daemon stop stops it`);
    this.name = 'DaemonAlreadyRunningError';
  }
}

export class UnsafePathError extends TimerError {
  constructor(message: string, options?: ErrorOptions) {
    super(ERROR_CODES.UNSAFE_PATH, message, options);
    this.name = 'UnsafePathError';
  }
}

/** A file system call failed for a reason the user can fix; the message names what, where and how (fs/fs-error.ts). */
export class FileSystemError extends TimerError {
  constructor(message: string, options?: ErrorOptions) {
    super(ERROR_CODES.FILE_SYSTEM, message, options);
    this.name = 'FileSystemError';
  }
}

/** An error the CLI has already printed: only its exit code is left to apply. */
export class ReportedError extends Error {
  readonly original: Error;
  constructor(original: Error) {
    super(original.message, { cause: original });
    this.name = 'ReportedError';
    this.original = original;
  }
}

/** Normalise anything that was thrown into an Error (as graphile-worker's coerceError). */
export function coerceError(err: unknown): Error {
  if (err instanceof Error) return err;
  if (typeof err === 'string') return new Error(err);
  try {
    return new Error(`non-error thrown: ${JSON.stringify(err)}`);
  } catch {
    return new Error('non-error thrown');
  }
}
