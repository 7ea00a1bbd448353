import fs from 'node:fs';
import path from 'node:path';
import { pino, type DestinationStream, type Level, type Logger } from 'pino';
import roll from 'pino-roll';
import { InvalidInputError } from '../core/errors.ts';
import { checkOwnFile, ensurePrivateDir } from '../fs/private.ts';

export type { Logger };

type LevelOption = Level | 'silent';

const LOG_LEVEL_ENV = 'GLOBUS_TIMER_LOG_LEVEL';
const DEFAULT_LEVEL: LevelOption = 'info';
/** pino's levels, loudest last, and `silent`: anything else makes pino throw. */
const LEVELS: readonly LevelOption[] = ['silent', 'fatal', 'error', 'warn', 'info', 'debug', 'trace'];

/**
 * GLOBUS_TIMER_LOG_LEVEL, checked: a level pino does not know is refused in one line that
 * names the variable and the levels there are (not pino's own error, from deep inside).
 */
export function logLevelFromEnv(env: NodeJS.ProcessEnv = process.env): LevelOption {
  const raw = env[LOG_LEVEL_ENV];
  if (raw === undefined || raw === '') return DEFAULT_LEVEL;
  const level = LEVELS.find((l) => l === raw);
  if (level) return level;
  throw new InvalidInputError(`invalid ${LOG_LEVEL_ENV}=${raw}: give one of ${LEVELS.join(', ')} (default ${DEFAULT_LEVEL}), or unset it`);
}

function build(level: LevelOption, destination: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Secrets never reach the log: a second line of defence for fields that might carry
      // a token by mistake.
      redact: {
        paths: [
          'authorization',
          'headers.authorization',
          '*.authorization',
          'token',
          '*.token',
          'access_token',
          '*.access_token',
          'refresh_token',
          '*.refresh_token',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

/**
 * pino JSON lines on stderr: what journald and a supervisor expect (`daemon run`).
 * Synchronous writes, so lines are not lost when the process exits right after logging.
 */
export function createLogger({ level = logLevelFromEnv() }: { level?: LevelOption } = {}): Logger {
  return build(level, pino.destination({ dest: 2, sync: true }));
}

/** Log files of a detached daemon: `daemon.N.log` in the log directory, newest `current.log`. */
export const LOG_FILE_BASE = 'daemon';
const LOG_FILE_SIZE = '10m';
const LOG_FILES_KEPT = 5;

/**
 * JSON lines to a size-rotated file under `logDir` (pino-roll: a new `daemon.N.log` every
 * 10 MB, 5 old files kept, `current.log` a link to the newest): a detached daemon has no
 * terminal and no journal to write to.
 */
export async function createFileLogger(logDir: string, { level = logLevelFromEnv() }: { level?: LevelOption } = {}): Promise<Logger> {
  ensurePrivateDir(logDir, 'log directory');
  refusePlantedLogFiles(logDir);
  const stream = await roll({
    file: path.join(logDir, LOG_FILE_BASE),
    extension: '.log',
    size: LOG_FILE_SIZE,
    limit: { count: LOG_FILES_KEPT },
    symlink: true,
    sync: true,
    mode: 0o600,
  });
  return build(level, stream);
}

/** pino-roll's link to the newest file: `current.log` → `daemon.N.log`, a name in the same directory. */
const CURRENT_LOG = 'current.log';
const OWN_LOG_NAME = new RegExp(`^${LOG_FILE_BASE}\\.\\d+\\.log$`);

/**
 * pino-roll opens its files by name, following links (into a file of the victim's choosing,
 * appended to with the victim's rights). The main defence is the log directory being
 * private: once checked, no one else can add to it. This refuses what another user may
 * have left in it before (when it, or the state directory above it, was open to them):
 * any symbolic link but pino-roll's own current.log, and any entry that is not a regular
 * file of the user's. Checking the whole directory once covers the files of later
 * rotations too, which pre-opening pino-roll's first file ourselves would not.
 */
function refusePlantedLogFiles(logDir: string): void {
  for (const name of fs.readdirSync(logDir)) {
    const file = path.join(logDir, name);
    const st = fs.lstatSync(file);
    if (name === CURRENT_LOG && st.isSymbolicLink() && OWN_LOG_NAME.test(fs.readlinkSync(file))) continue;
    checkOwnFile(st, file, 'log file');
  }
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
