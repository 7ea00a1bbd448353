import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { authSettings } from '../auth/environment.ts';
import { ClientCredentialTokens, createTokenProvider, UserTokens } from '../auth/tokens.ts';
import { resolveConfig } from '../config/config.ts';
import { systemClock } from '../scheduler/clock.ts';
import { resolvePaths } from '../config/paths.ts';
import { coerceError, TimerError } from '../errors.ts';
import { createFileLogger, createLogger, type Logger } from '../log/logger.ts';
import { startDaemon, type Daemon } from './daemon.ts';
import { inheritedSocketFd } from './systemd.ts';

/**
 * Run the daemon until it is stopped (what `globus-timer daemon run`, `npm start`, a
 * systemd unit and `daemon start` call). SIGTERM/SIGINT or the `daemon.stop` RPC stop it
 * gracefully; a second signal exits at once. Logs are pino JSON lines on stderr, or with
 * `logToFile` (a detached daemon) in rotated files under the state directory.
 */
export async function runDaemon({ logToFile = false }: { logToFile?: boolean } = {}): Promise<number> {
  let log: Logger = createLogger();
  let daemon: Daemon;
  try {
    const paths = resolvePaths();
    if (logToFile) log = await createFileLogger(paths.logDir);
    const config = resolveConfig();
    const tokens = createTokenProvider({
      env: process.env,
      tokensFile: paths.tokensFile,
      clock: systemClock,
      refreshMarginMs: config.tokenRefreshMarginMs,
      warn: (message) => log.warn(message),
    });
    // At start, not at the first fire: a token cache another user could reach is refused.
    if (tokens instanceof UserTokens) tokens.cache.checkLocation();
    log.info(
      tokens instanceof ClientCredentialTokens
        ? { tokens: 'client_credentials', clientId: authSettings(process.env).clientId }
        : { tokens: 'user', tokensFile: paths.tokensFile },
      'Globus tokens',
    );
    daemon = await startDaemon({
      paths,
      config,
      log,
      tokens,
      inheritedSocketFd: inheritedSocketFd(),
      logFile: logToFile ? path.join(paths.logDir, 'current.log') : null,
    });
  } catch (err) {
    const e = coerceError(err);
    log.fatal({ err: e }, 'daemon failed to start');
    process.stderr.write(`globus-timer: ${e instanceof TimerError ? e.message : `cannot start the daemon: ${e.message}`}\n`);
    return 1;
  }
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
  return cleanly ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await runDaemon();
}
