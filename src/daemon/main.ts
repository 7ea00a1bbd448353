import { pathToFileURL } from 'node:url';
import { resolveConfig } from '../config/config.ts';
import { resolvePaths } from '../config/paths.ts';
import { coerceError, TimerError } from '../errors.ts';
import { createLogger } from '../log/logger.ts';
import { startDaemon } from './daemon.ts';

/**
 * Run the daemon in the foreground until SIGTERM/SIGINT (what `globus-timer daemon run`,
 * `npm start` and a systemd unit call). The first signal stops gracefully; a second one
 * exits at once. Logs are pino JSON lines on stderr.
 */
export async function runDaemon(): Promise<number> {
  const log = createLogger();
  let daemon;
  try {
    daemon = await startDaemon({ paths: resolvePaths(), config: resolveConfig(), log });
  } catch (err) {
    const e = coerceError(err);
    log.fatal({ err: e }, 'daemon failed to start');
    process.stderr.write(`globus-timer: ${e instanceof TimerError ? e.message : `cannot start the daemon: ${e.message}`}\n`);
    return 1;
  }
  const running = daemon;
  return new Promise<number>((resolve) => {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (signalled) {
        log.warn({ signal }, 'second signal; exiting now');
        process.exit(1);
      }
      signalled = true;
      log.info({ signal }, 'shutting down');
      running.stop().then(
        () => resolve(0),
        (err: unknown) => {
          log.error({ err: coerceError(err) }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await runDaemon();
}
