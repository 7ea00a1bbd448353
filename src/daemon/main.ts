import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { authSettings } from '../auth/environment.ts';
import { ClientCredentialTokens, createTokenProvider, UserTokens, type TokenProvider } from '../auth/tokens.ts';
import { resolveConfig, type ResolvedConfig } from '../config/config.ts';
import { systemClock } from '../core/clock.ts';
import { resolvePaths, type AppPaths } from '../config/paths.ts';
import { coerceError, ERROR_CODES, InvalidInputError, TimerError } from '../core/errors.ts';
import { fileSystemError } from '../fs/fs-error.ts';
import { createFileLogger, createLogger, logLevelFromEnv, type Logger } from '../log/logger.ts';
import { startDaemon, type Daemon } from './daemon.ts';
import { inheritedSockets } from './systemd.ts';
import { API_ADDR_ENV, parseApiAddr, type ApiAddr } from '../core/api-addr.ts';

interface RunOptions {
  logToFile?: boolean;
  /**
   * The REST API's address (`--api`, checked by the CLI); undefined: GLOBUS_TIMER_API_ADDR
   * when set (a bad value fails the start, exit 1, as any refused setting); null: no API.
   */
  apiAddr?: ApiAddr | null | undefined;
}

/**
 * Run the daemon until it is stopped (what `globus-timer daemon run`, `npm start`, a
 * systemd unit and `daemon start` call). SIGTERM/SIGINT or the `daemon.stop` RPC stop it
 * gracefully; a second signal exits at once. Logs are pino JSON lines on stderr, or with
 * `logToFile` (a detached daemon) in rotated files under the state directory. Resolves
 * with the exit code once stopped; a failed start rejects with a one-line TimerError
 * (startFailure), which the CLI reports like any other error.
 */
export async function runDaemon({ logToFile = false, apiAddr }: RunOptions = {}): Promise<number> {
  const { daemon, log } = await start(logToFile, apiAddr);
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      log.warn({ signal }, 'second signal; exiting now');
      process.exit(1);
    }
    signalled = true;
    log.info({ signal }, 'shutting down');
    daemon.stop().catch(() => {}); // a failed stop is logged by the daemon and seen below
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const cleanly = await daemon.stopped;
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  const code = cleanly ? 0 : 1;
  exitIfStillRunning(log, code);
  return code;
}

/** How long a stopped daemon's process may take to end by itself. */
const EXIT_GRACE_MS = 2_000;

/**
 * Everything is closed and the process ends once its event loop is empty. Should a handle
 * still hold it (a bug), say which and exit anyway: a daemon that logged "daemon stopped"
 * and stays is killed by systemd's stop timeout (90 s) or by whoever waited for it. The
 * timer is unref'd, so a process that ends by itself never sees it.
 */
function exitIfStillRunning(log: Logger, code: number): void {
  setTimeout(() => {
    log.error({ resources: process.getActiveResourcesInfo() }, 'the daemon stopped but its process did not end; exiting');
    process.exit(code);
  }, EXIT_GRACE_MS).unref();
}

/**
 * Everything up to a listening daemon, the logger included: a setting it refuses
 * (GLOBUS_TIMER_LOG_LEVEL=loud) fails the start in one line like any other reason.
 */
async function start(logToFile: boolean, apiAddrGiven: ApiAddr | null | undefined): Promise<{ daemon: Daemon; log: Logger }> {
  let log: Logger | undefined;
  let loggingToFile = false;
  try {
    const level = setting(() => logLevelFromEnv());
    log = createLogger({ level });
    const paths = resolvePaths();
    if (logToFile) {
      log = await createFileLogger(paths.logDir, { level });
      loggingToFile = true;
    }
    const config = setting(() => resolveConfig());
    const apiAddr = apiAddrGiven !== undefined ? apiAddrGiven : setting(() => apiAddrFromEnv(process.env));
    const tokens = tokenProvider(paths, config, log);
    const logFile = logToFile ? path.join(paths.logDir, 'current.log') : null;
    // systemd's sockets (socket activation): fd 3 the Unix socket, fd 4 the API's port (daemon install --api).
    const sockets = inheritedSockets();
    const daemon = await startDaemon({
      paths,
      config,
      log,
      tokens,
      inheritedSocketFd: sockets?.rpc ?? null,
      inheritedApiFd: sockets?.api ?? null,
      logFile,
      apiAddr,
    });
    // Logged once started, not before: a daemon that cannot start says so in one line alone.
    const which =
      tokens instanceof ClientCredentialTokens
        ? { tokens: 'client_credentials', clientId: authSettings(process.env).clientId }
        : { tokens: 'user', tokensFile: paths.tokensFile };
    log.info(which, 'Globus tokens');
    return { daemon, log };
  } catch (err) {
    throw startFailure(err, log, loggingToFile);
  }
}

/**
 * A setting read from the environment. One it refuses is why the daemon cannot start
 * (CONFIG_INVALID, exit 1), not a usage error of `daemon run`'s command line (exit 2).
 */
function setting<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof InvalidInputError) throw new TimerError(ERROR_CODES.CONFIG_INVALID, err.message, { cause: err });
    throw err;
  }
}

/** GLOBUS_TIMER_API_ADDR, checked; null when unset or empty (no API). */
function apiAddrFromEnv(env: NodeJS.ProcessEnv): ApiAddr | null {
  const text = env[API_ADDR_ENV];
  return text ? parseApiAddr(text, API_ADDR_ENV) : null;
}

function tokenProvider(paths: AppPaths, config: ResolvedConfig, log: Logger): TokenProvider {
  const tokens = createTokenProvider({
    env: process.env,
    tokensFile: paths.tokensFile,
    clock: systemClock,
    refreshMarginMs: config.tokenRefreshMarginMs,
    warn: (message) => log.warn(message),
  });
  // At start, not at the first fire: a token cache another user could reach is refused.
  if (tokens instanceof UserTokens) tokens.cache.checkLocation();
  return tokens;
}

/**
 * Why the daemon could not start, as the error to report in one line. An expected failure
 * (another daemon holds the state, a directory it may not use, a read-only or full disk, a
 * refused setting) is that line alone: no pino JSON and no stack on stderr, which in the
 * foreground is the user's terminal (a detached daemon also logs it, to its file). Anything
 * else is a bug, and its stack is logged wherever the log goes (stderr when there is no
 * logger yet).
 */
function startFailure(err: unknown, log: Logger | undefined, loggingToFile: boolean): TimerError {
  const e = coerceError(err);
  const expected = e instanceof TimerError ? e : fileSystemError(e);
  if (!expected || loggingToFile) (log ?? createLogger({ level: 'info' })).fatal({ err: e }, 'daemon failed to start');
  return expected ?? new TimerError(ERROR_CODES.INTERNAL, `cannot start the daemon: ${e.message}`, { cause: e });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await runDaemon().catch((err: Error) => {
    process.stderr.write(`globus-timer: ${err.message}\n`);
    return 1;
  });
}
