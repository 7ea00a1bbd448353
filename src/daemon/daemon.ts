import fs from 'node:fs';
import type { Dispatcher } from 'undici';
import { createProviderAgent } from '../actions/provider.ts';
import type { ResolvedConfig } from '../config/config.ts';
import type { AppPaths } from '../config/paths.ts';
import { openDb, type Db } from '../db/open.ts';
import { countOpenRuns } from '../db/runs.ts';
import { formatIso } from '../jobs/time.ts';
import { JobService } from '../jobs/service.ts';
import type { Logger } from '../log/logger.ts';
import { PROTOCOL_VERSION } from '../rpc/protocol.ts';
import { RpcServer } from '../rpc/server.ts';
import { systemClock, type Clock } from '../scheduler/clock.ts';
import { Scheduler } from '../scheduler/loop.ts';
import { NO_TOKENS, Runner, type TokenProvider } from '../scheduler/runner.ts';
import { VERSION } from '../version.ts';
import { acquirePidLock } from './lock.ts';
import { startRetention } from './retention.ts';

export interface DaemonOptions {
  paths: AppPaths;
  config: ResolvedConfig;
  log: Logger;
  clock?: Clock;
  /** undici dispatcher for provider calls; default: a pooled Agent. */
  dispatcher?: Dispatcher;
  tokens?: TokenProvider;
}

/** A running daemon. Startup and `stop()` are mirror images. */
export interface Daemon extends AsyncDisposable {
  readonly db: Db;
  readonly service: JobService;
  readonly scheduler: Scheduler;
  readonly runner: Runner;
  stop(): Promise<void>;
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
    fs.mkdirSync(paths.dataDir, { recursive: true, mode: 0o700 });
    undo.push(acquirePidLock(paths.lockFile));
    const db = openDb(paths.dbFile);
    undo.push(() => db.$client.close());
    const ownAgent = opts.dispatcher ? null : createProviderAgent(config.maxConnectionsPerOrigin);
    const dispatcher = opts.dispatcher ?? ownAgent!;
    if (ownAgent) undo.push(() => ownAgent.close());

    const runner = new Runner({ db, clock, log: log.child({ component: 'runner' }), config, dispatcher, tokens: opts.tokens ?? NO_TOKENS });
    const scheduler = new Scheduler({ db, clock, log: log.child({ component: 'scheduler' }), config, onFire: (run, job) => runner.fire(run, job) });
    const service = new JobService({ db, clock, config, onScheduleChange: () => scheduler.reschedule() });

    const rpc = new RpcServer(
      {
        'job.submit': (p) => service.submit(p),
        'job.get': (p) => service.get(p.job_id),
        'job.list': (p) => service.list(p),
        'job.delete': (p) => service.delete(p.job_id),
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
        }),
      },
      log.child({ component: 'rpc' }),
    );
    await rpc.listen(paths.socketPath);
    undo.push(() => rpc.close());

    const resumed = runner.resumeOpenRuns();
    scheduler.start();
    const stopRetention = startRetention({ db, clock, config, log: log.child({ component: 'retention' }) });
    log.info({ socket: paths.socketPath, db: paths.dbFile, version: VERSION, resumedRuns: resumed }, 'daemon listening');

    let stopping: Promise<void> | undefined;
    const stop = () =>
      (stopping ??= (async () => {
        log.info('daemon stopping');
        scheduler.stop();
        stopRetention();
        await rpc.close();
        await runner.stop(config.shutdownGraceMs);
        if (ownAgent) await ownAgent.close();
        db.$client.close();
        undo[0]?.();
        log.info('daemon stopped');
      })());
    return { db, service, scheduler, runner, stop, [Symbol.asyncDispose]: stop };
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
