import envPaths from 'env-paths';
import os from 'node:os';
import path from 'node:path';
import { InvalidInputError } from '../core/errors.ts';

/** Every filesystem location globus-timer uses, resolved once at startup. */
export interface AppPaths {
  /** Directory holding the database (and, with GLOBUS_TIMER_HOME, everything else). */
  dataDir: string;
  dbFile: string;
  /**
   * Directory of the socket: `$XDG_RUNTIME_DIR/globus-timer`, else the data directory.
   * Private (0700 when we create it, checked before every use: src/fs/private.ts).
   */
  runtimeDir: string;
  socketPath: string;
  /** Pid file that keeps a second daemon off the same database. */
  lockFile: string;
  logDir: string;
  tokensFile: string;
  /**
   * The REST API's bearer token (issue 14): made by the daemon beside the database, 0600,
   * read by `globus-timer api token` (auth/api-token.ts).
   */
  apiTokenFile: string;
}

/**
 * The kernel copies a Unix socket path into a 108-byte `sun_path`: a longer path is
 * silently truncated and the socket appears somewhere else. Refuse instead.
 */
export const MAX_SOCKET_PATH_BYTES = 107;

const API_TOKEN_FILE = 'api-token';

/**
 * Resolve paths from the environment (SPEC §6). `GLOBUS_TIMER_HOME` puts all state in one
 * directory, which is what tests and second instances use.
 */
export function resolvePaths(env: NodeJS.ProcessEnv = process.env): AppPaths {
  const home = env.GLOBUS_TIMER_HOME;
  let paths: AppPaths;
  if (home) {
    const root = path.resolve(home);
    paths = {
      dataDir: root,
      dbFile: path.join(root, 'timer.db'),
      runtimeDir: root,
      socketPath: path.join(root, 'daemon.sock'),
      lockFile: path.join(root, 'daemon.pid'),
      logDir: path.join(root, 'logs'),
      tokensFile: path.join(root, 'tokens.json'),
      apiTokenFile: path.join(root, API_TOKEN_FILE),
    };
  } else {
    // env-paths appends "-nodejs" unless the suffix is emptied; it reads XDG_* per call.
    const p = envPaths('globus-timer', { suffix: '' });
    // Without XDG_RUNTIME_DIR (cron, su, ssh without pam_systemd, containers) the socket
    // goes beside the database, in the user's own state directory: under a shared directory
    // such as /tmp another user could create its directory first and receive every
    // job.submit (issue 11). XDG_RUNTIME_DIR itself is judged as a directory above ours
    // (src/fs/private.ts: the user's or root's, sticky if others may write to it).
    const runtimeDir = env.XDG_RUNTIME_DIR ? path.join(env.XDG_RUNTIME_DIR, 'globus-timer') : p.data;
    const configHome = env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
    paths = {
      dataDir: p.data,
      dbFile: path.join(p.data, 'timer.db'),
      runtimeDir,
      socketPath: path.join(runtimeDir, 'daemon.sock'),
      lockFile: path.join(p.data, 'daemon.pid'),
      logDir: p.log,
      tokensFile: path.join(configHome, 'globus', 'tokens.json'),
      apiTokenFile: path.join(p.data, API_TOKEN_FILE),
    };
  }
  if (Buffer.byteLength(paths.socketPath) > MAX_SOCKET_PATH_BYTES) {
    throw new InvalidInputError(
      `socket path ${paths.socketPath} is longer than ${MAX_SOCKET_PATH_BYTES} bytes; set GLOBUS_TIMER_HOME or XDG_RUNTIME_DIR to a shorter directory`,
    );
  }
  return paths;
}
