import type { Dispatcher } from 'undici';
import { createProviderAgent } from '../actions/provider.ts';
import type { ResolvedConfig } from '../config/config.ts';
import type { AppPaths } from '../config/paths.ts';
import { openDb, type Db } from './store/open.ts';
import { ensurePrivateDir } from '../fs/private.ts';
import { startCheckpointer } from './store/checkpointer.ts';
import { countOpenRuns, recentLatenessMs } from './store/runs.ts';
import { adoptZoneForCalendarJobsWithoutOne } from './store/jobs.ts';
import { formatIso, localTimezone } from '../core/time.ts';
import { JobService } from './jobs/job-service.ts';
import { coerceError } from '../core/errors.ts';
import type { Logger } from '../log/logger.ts';
import { PROTOCOL_VERSION, type DaemonStatus } from '../contract/protocol.ts';
import { RpcServer } from './rpc-server.ts';
import { systemClock, type Clock } from '../core/clock.ts';
import { Scheduler } from './loop.ts';
import { NO_TOKENS, type TokenProvider } from '../auth/tokens.ts';
import { ALLOW_HTTP_TOKENS_ENV, tokenRulesFromEnv, type TokenRules } from '../auth/token-rules.ts';
import { Runner } from './runner.ts';
import { WriteBehind } from './store/write-behind.ts';
import { VERSION } from '../util/package-root.ts';
import { acquirePidLock } from '../fs/daemon-lock.ts';
import { startRetention } from './retention.ts';

export interface DaemonOptions {
  paths: AppPaths;
  config: ResolvedConfig;
  log: Logger;
  clock?: Clock;
  /** undici dispatcher for provider calls; default: a pooled Agent. */
  dispatcher?: Dispatcher;
  tokens?: TokenProvider;
  /** Where a job's token may go; default: from the daemon's environment (auth/token-rules.ts). */
  tokenRules?: TokenRules;
  /** A listening socket passed by systemd (socket activation); else we bind `paths.socketPath`. */
  inheritedSocketFd?: number | null;
  /** Where `log` writes, for `daemon status`; null for stderr. */
  logFile?: string | null;
}

/** How many recent runs `daemon status` summarises for fire lateness. */
const LATENESS_SAMPLE_RUNS = 1_000;

/** A running daemon. Startup and `stop()` are mirror images. */
export interface Daemon extends AsyncDisposable {
  readonly db: Db;
  readonly service: JobService;
  readonly scheduler: Scheduler;
  readonly runner: Runner;
  stop(): Promise<void>;
  /** Resolves once the daemon has stopped, whoever asked (a signal, `daemon.stop`): true if cleanly. */
  readonly stopped: Promise<boolean>;
}

/**
 * Start: take the state lock, open and migrate the database, listen on the socket, resume
 * unfinished runs, start the scheduler. If any step fails, the steps before it are undone.
 */
export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const { paths, config, log } = opts;
  const clock = opts.clock ?? systemClock;
  const startedAtMs = Date.now();
  const undo: (() => unknown)[] = [];
  try {
    // Checked (or created 0700) before anything is opened in them, never chmod-ed: another
    // user's directory means another user's database and socket (src/fs/private.ts).
    ensurePrivateDir(paths.dataDir, 'state directory');
    if (opts.inheritedSocketFd == null) ensurePrivateDir(paths.runtimeDir, 'socket directory');
    const releaseLock = acquirePidLock(paths.lockFile);
    undo.push(releaseLock);
    const db = openDb(paths.dbFile);
    undo.push(() => db.$client.close());
    const zone = localTimezone();
    const zoned = zone === null ? 0 : adoptZoneForCalendarJobsWithoutOne(db, zone);
    if (zoned > 0) log.info({ zone, jobs: zoned }, 'calendar jobs without a stored time zone now keep the daemon\'s (job update --timezone changes it)');
    const checkpointer = startCheckpointer(db, paths.dbFile, log.child({ component: 'checkpoint' }));
    undo.push(() => checkpointer.stop());
    const ownAgent = opts.dispatcher ? null : createProviderAgent(config.maxConnectionsPerOrigin);
    const dispatcher = opts.dispatcher ?? ownAgent!;
    if (ownAgent) undo.push(() => ownAgent.close());

    const tokenRules = opts.tokenRules ?? tokenRulesFromEnv(process.env);
    if (tokenRules.allowHttpTokens) {
      log.warn(`${ALLOW_HTTP_TOKENS_ENV} is set: Globus tokens may be sent over plain http (to loopback providers); unset it outside tests`);
    }
    const writes = new WriteBehind(db, log.child({ component: 'runner' }));
    const runner = new Runner({ db, writes, clock, log: log.child({ component: 'runner' }), config, dispatcher, tokens: opts.tokens ?? NO_TOKENS, tokenRules });
    const scheduler = new Scheduler({
      db,
      clock,
      log: log.child({ component: 'scheduler' }),
      config,
      onFire: (run, job) => runner.fire(run, job),
      beforeClaim: () => writes.flush(),
    });
    const service = new JobService({
      db,
      clock,
      config,
      onScheduleChange: () => scheduler.reschedule(),
      fireRun: (run, job) => runner.fire(run, job),
      flushRunWrites: () => writes.flush(),
      withdrawRuns: (jobId) => runner.withdraw(jobId),
      closeDeletedJobRuns: (jobId) => runner.closeRunsOfDeletedJob(jobId),
      tokenRules,
    });

    let markStopped: (cleanly: boolean) => void = () => {};
    const stopped = new Promise<boolean>((resolve) => (markStopped = resolve));
    let stop: () => Promise<void> = async () => {};
    const rpc = new RpcServer(
      {
        'job.submit': (p) => service.submit(p),
        'job.get': (p) => service.get(p.job_id),
        'job.list': (p) => service.list(p),
        'job.delete': (p) => service.delete(p.job_id),
        'job.resolve': (p) => service.resolve(p),
        'job.purge': (p) => service.purge(p),
        'job.resume': (p) => service.resume(p.job_id),
        'job.pause': (p) => service.pause(p),
        'job.run': (p) => service.runNow(p),
        'job.history': (p) => service.history(p),
        'job.update': (p) => service.update(p),
        'job.next': (p) => service.next(p),
        'daemon.hello': () => ({ protocol_version: PROTOCOL_VERSION, version: VERSION, pid: process.pid }),
        'daemon.status': () => ({
          pid: process.pid,
          version: VERSION,
          protocol_version: PROTOCOL_VERSION,
          started_at: formatIso(startedAtMs),
          uptime_seconds: Math.round((Date.now() - startedAtMs) / 1000),
          db_file: paths.dbFile,
          socket_path: paths.socketPath,
          jobs: service.countByStatus(),
          runs_in_flight: countOpenRuns(db),
          fire_lateness_ms: summarize(recentLatenessMs(db, LATENESS_SAMPLE_RUNS)),
          log_file: opts.logFile ?? null,
          socket_activated: opts.inheritedSocketFd != null,
        }),
        'daemon.stop': () => {
          // Answer first: the caller then waits for the socket to go away.
          setImmediate(() => stop().catch(() => {})); // logged inside stop()
          return { pid: process.pid };
        },
      },
      log.child({ component: 'rpc' }),
    );
    if (opts.inheritedSocketFd != null) await rpc.listenOnFd(opts.inheritedSocketFd);
    else await rpc.listen(paths.socketPath);
    undo.push(() => rpc.close());

    const resumed = runner.resumeOpenRuns();
    scheduler.start();
    const stopRetention = startRetention({ db, clock, config, log: log.child({ component: 'retention' }) });
    log.info({ socket: paths.socketPath, db: paths.dbFile, version: VERSION, resumedRuns: resumed }, 'daemon listening');

    let stopping: Promise<void> | undefined;
    stop = () =>
      (stopping ??= (async () => {
        log.info('daemon stopping');
        try {
          scheduler.stop();
          stopRetention();
          await rpc.close();
          await runner.stop(config.shutdownGraceMs);
          if (ownAgent) await ownAgent.close();
          await checkpointer.stop();
          db.$client.close();
          releaseLock();
          log.info('daemon stopped');
          markStopped(true);
        } catch (err) {
          log.error({ err: coerceError(err) }, 'shutdown failed');
          markStopped(false);
          throw err;
        }
      })());
    return { db, service, scheduler, runner, stop, stopped, [Symbol.asyncDispose]: stop };
  } catch (err) {
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch {
        // keep undoing the rest
      }
    }
    throw err;
  }
}

/** p50 / p99 / max of a sample, nearest-rank. */
function summarize(samples: number[]): DaemonStatus['fire_lateness_ms'] {
  if (samples.length === 0) return { runs: 0, p50: null, p99: null, max: null };
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  return { runs: sorted.length, p50: rank(0.5), p99: rank(0.99), max: sorted.at(-1)! };
}
