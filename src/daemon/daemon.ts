import type { Dispatcher } from 'undici';
import { createProviderAgent } from '../actions/provider.ts';
import { onFailureDefaultFromEnv, type ResolvedConfig } from '../config/config.ts';
import type { AppPaths } from '../config/paths.ts';
import { openDb, type Db } from './store/open.ts';
import { ensurePrivateDir } from '../fs/private.ts';
import { startCheckpointer, type Checkpointer } from './store/checkpointer.ts';
import { adoptZoneForCalendarJobsWithoutOne } from './store/jobs.ts';
import { localTimezone } from '../core/time.ts';
import { JobService } from './jobs/job-service.ts';
import { coerceError, ERROR_CODES, TimerError } from '../core/errors.ts';
import type { Logger } from '../log/logger.ts';
import { RpcServer } from './rpc-server.ts';
import { systemClock, type Clock } from '../core/clock.ts';
import { Scheduler } from './loop.ts';
import { NO_TOKENS, type TokenProvider } from '../auth/tokens.ts';
import { ALLOW_HTTP_TOKENS_ENV, tokenRulesFromEnv, type TokenRules } from '../auth/token-rules.ts';
import { EventHub } from './events/hub.ts';
import { FailureHooks } from './notify/failure-hooks.ts';
import type { OnFailure } from '../core/on-failure.ts';
import { Runner } from './runner.ts';
import { WriteBehind } from './store/write-behind.ts';
import { VERSION } from '../util/package-root.ts';
import { acquirePidLock } from '../fs/daemon-lock.ts';
import { startRetention } from './retention.ts';
import { Compactor } from './compaction.ts';
import { convertToIncrementalVacuum } from './store/vacuum.ts';
import { rpcRoutes } from './rpc-routes.ts';
import { UndoStack } from '../util/undo-stack.ts';
import { API_ADDR_ENV, apiBaseUrl, type ApiAddr } from '../core/api-addr.ts';
import { ensureApiToken, rotateApiToken as rotateApiTokenFile } from '../auth/api-token.ts';
import type { ApiServer, ApiTimeouts } from './api/server.ts';
import { apiJobs, betweenFires, type ApiJobs } from './api/jobs.ts';
import { startApiThread } from './api/thread.ts';
import { newLoginCode } from './api/sessions.ts';

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
  /**
   * The REST API's listening socket passed by systemd (fd 4, `daemon install --api`): served
   * as it is, instead of binding `apiAddr`, and served even without an apiAddr.
   */
  inheritedApiFd?: number | null;
  /** Where `log` writes, for `daemon status`; null for stderr. */
  logFile?: string | null;
  /** Serve the Timers REST API on this loopback address (issue 14); null or absent: no API. */
  apiAddr?: ApiAddr | null;
  /** The API's slow-client limits (tests shorten them); default: api/server.ts. */
  apiTimeouts?: Partial<ApiTimeouts>;
  /** The failure hook of jobs without their own; default: from the daemon's environment (config.ts onFailureDefaultFromEnv). */
  onFailureDefault?: OnFailure | null;
}

/** A running daemon. Startup and `stop()` are mirror images. */
export interface Daemon extends AsyncDisposable {
  readonly db: Db;
  readonly service: JobService;
  readonly scheduler: Scheduler;
  readonly runner: Runner;
  readonly events: EventHub;
  stop(): Promise<void>;
  /** The REST API's base URL, or null when it is off. */
  readonly apiUrl: string | null;
  /** Resolves once the daemon has stopped, whoever asked (a signal, `daemon.stop`): true if cleanly. */
  readonly stopped: Promise<boolean>;
}

/**
 * Start: take the state lock, open and migrate the database, listen on the socket, resume
 * unfinished runs, start the scheduler. Each resource goes onto one undo stack as soon as it
 * is started, and that stack is the shutdown: `stop()` unwinds it newest first, and a start
 * that fails midway unwinds what it had started before the error is thrown.
 */
export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const started = new UndoStack();
  try {
    return await start(opts, started);
  } catch (err) {
    // The error that stopped the start is the one to report; undoing goes on past failures.
    await started.unwind().catch(() => {});
    throw err;
  }
}

/**
 * The order of the pushes is the shutdown read backwards: the scheduler stops firing (a pass
 * is synchronous, so the one under way has ended), retention stops, the socket stops
 * accepting, in-flight runs get the grace period and their bookkeeping is flushed, then the
 * connections, the checkpointer and the database close, and the lock goes last.
 */
async function start(opts: DaemonOptions, started: UndoStack): Promise<Daemon> {
  const { paths, config, log } = opts;
  const clock = opts.clock ?? systemClock;
  const startedAtMs = Date.now();
  const { db, checkpointer } = openState(opts, started);
  const dispatcher = opts.dispatcher ?? providerAgent(config, started);
  const tokenRules = opts.tokenRules ?? tokenRulesFromEnv(process.env);
  if (tokenRules.allowHttpTokens) {
    log.warn(`${ALLOW_HTTP_TOKENS_ENV} is set: Globus tokens may be sent over plain http (to loopback providers); unset it outside tests`);
  }
  const tokens = opts.tokens ?? NO_TOKENS;
  const writes = new WriteBehind(db, log.child({ component: 'runner' }));
  started.defer('run bookkeeping', () => writes.close());
  // Run and job changes for whoever watches (issue 16): the RPC socket's watchers, the dashboard, the failure hooks.
  const events = new EventHub({ db, writes, log: log.child({ component: 'events' }), betweenFires: () => betweenFires(() => scheduler.msUntilWake()) });
  // Told when it fails (issue 16 item 5): a job's --on-failure / --notify, or the daemon-wide default.
  const defaultHook = opts.onFailureDefault !== undefined ? opts.onFailureDefault : onFailureDefaultFromEnv(process.env);
  const hooks = new FailureHooks({ db, events, log: log.child({ component: 'notify' }), timeoutMs: config.onFailureTimeoutMs, defaultHook });
  started.defer('failure hooks', () => hooks.stop());
  // Compact history (issue 17): older runs lose their provider documents, off the firing path.
  const compactor = new Compactor({
    db,
    clock,
    config,
    log: log.child({ component: 'compaction' }),
    betweenFires: () => betweenFires(() => scheduler.msUntilWake()),
    storeFailing: () => writes.failing,
    walCaughtUp: (timeoutMs) => checkpointer.caughtUp(timeoutMs),
  });
  const runner = new Runner({
    db,
    writes,
    clock,
    log: log.child({ component: 'runner' }),
    config,
    dispatcher,
    tokens,
    tokenRules,
    events,
    onRunEnded: (jobId) => compactor.runEnded(jobId),
  });
  started.defer('runner', () => runner.stop(config.shutdownGraceMs));
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
    onScheduleChange: (jobId) => {
      scheduler.reschedule();
      hooks.jobChanged(jobId);
      events.jobChanged(jobId);
    },
    fireRun: (run, job) => runner.fire(run, job),
    flushRunWrites: () => writes.flush(),
    withdrawRuns: (jobId) => runner.withdraw(jobId),
    closeDeletedJobRuns: (jobId) => runner.closeRunsOfDeletedJob(jobId),
    tokenRules,
    storeFailing: () => writes.failing,
  });
  const { stop, stopped } = stopper(started, log);
  const socketActivated = opts.inheritedSocketFd != null;
  const requestStop = () => void stop().catch(() => {}); // a failed stop is logged inside stop()
  let api: ApiServer | null = null;
  const apiUrl = () => api?.url ?? null;
  const rotateApiToken = () => {
    // The daemon holds the state lock: the only writer of the token file.
    const token = rotateApiTokenFile(paths.apiTokenFile);
    api?.setToken(token);
    log.info({ api: apiUrl() ?? undefined }, 'api token rotated');
  };
  const dashboardLogin = () => {
    if (!api) throw new TimerError(ERROR_CODES.API_OFF, 'the daemon serves no REST API: restart it with --api 127.0.0.1:8080');
    // Made here, where the RPC socket (the user's alone) asked; the API thread only checks it.
    const code = newLoginCode();
    api.addLoginCode(code);
    return { url: `${api.url}/?code=${code}` };
  };
  const rpc = new RpcServer(
    rpcRoutes({
      service,
      db,
      paths,
      startedAtMs,
      logFile: opts.logFile ?? null,
      socketActivated,
      stop: requestStop,
      apiUrl,
      rotateApiToken,
      writesFailing: () => writes.failing,
      dashboardLogin,
    }),
    log.child({ component: 'rpc' }),
    events,
  );
  // Before the socket answers (a second daemon was refused at the state lock already), so
  // that once the CLI gets an answer there the API is up too (`daemon start --api` asks for
  // its URL), and before any run starts: a port that cannot be had fails the start.
  if (opts.apiAddr || opts.inheritedApiFd != null)
    api = await startApi(
      opts,
      config,
      apiJobs(service, tokens, () => betweenFires(() => scheduler.msUntilWake())),
      started,
      events,
    );
  // Pushed before listening: a listen that fails after binding still closes what it bound.
  started.defer('rpc server', () => rpc.close());
  if (opts.inheritedSocketFd != null) await rpc.listenOnFd(opts.inheritedSocketFd);
  else await rpc.listen(paths.socketPath);

  const resumed = runner.resumeOpenRuns();
  const retention = startRetention({ db, clock, config, log: log.child({ component: 'retention' }) });
  started.defer('retention', retention.stop);
  compactor.start();
  started.defer('compaction', () => compactor.stop());
  scheduler.start();
  started.defer('scheduler', () => scheduler.stop());
  // Out of space for the run bookkeeping: first give back what is ours to give (issue 17 item 3):
  // the WAL, then the room old runs take inside the file (their documents, runs past retention).
  writes.onFailing(() => {
    checkpointer.truncateNow();
    compactor.freeSpace();
    retention.passNow();
  });
  // The room truncateNow gives back first (checkpointer.ts RESERVE_BYTES), set aside again once commits work.
  checkpointer.reserveWhen(() => !writes.failing);
  // A WAL a burst left large is truncated only while nothing is due soon and nothing in flight (checkpointer.ts).
  checkpointer.truncateWhen(() => runner.inFlight === 0 && writes.queued === 0 && (scheduler.msUntilWake() ?? Number.POSITIVE_INFINITY) > IDLE_AHEAD_MS);
  log.info({ socket: paths.socketPath, api: apiUrl() ?? undefined, db: paths.dbFile, version: VERSION, resumedRuns: resumed }, 'daemon listening');
  return { db, service, scheduler, runner, events, apiUrl: apiUrl(), stop, stopped, [Symbol.asyncDispose]: stop };
}

/** How far ahead nothing may be due for the daemon to count as idle (a WAL truncate holds writers back). */
const IDLE_AHEAD_MS = 2_000;

/** The Timers REST API: its token (made on the first start, then kept) and its server, on `addr` or the socket systemd passed. */
async function startApi(
  { apiTimeouts, paths, log, inheritedApiFd, apiAddr }: DaemonOptions,
  config: ResolvedConfig,
  jobs: ApiJobs,
  started: UndoStack,
  events: EventHub,
): Promise<ApiServer> {
  const token = ensureApiToken(paths.apiTokenFile);
  const addr = apiAddr ?? null;
  // systemd's socket, when it passed one, rather than binding: it holds the port (and checks nothing; server.ts does).
  const fd = inheritedApiFd ?? null;
  // On a thread of its own (api/jobs.ts): the firing path stays first.
  const api = await startApiThread({
    dbFile: paths.dbFile,
    addr,
    fd,
    token,
    timeouts: apiTimeouts,
    config,
    jobs,
    events,
    log: log.child({ component: 'api' }),
  });
  started.defer('api server', () => api.close());
  if (fd !== null && addr && !servesAt(api.url, addr)) {
    // The socket is what clients reach; the variable only said where it should be (an edited unit?).
    log.warn(
      { api: api.url, configured: apiBaseUrl(addr) },
      `the REST API serves the port systemd passed, not the one ${API_ADDR_ENV} names; run globus-timer daemon install --api PORT to write both again`,
    );
  }
  return api;
}

/** Whether `url` is `addr`'s (port 0: any port on its host). */
function servesAt(url: string, addr: ApiAddr): boolean {
  const have = new URL(url);
  const want = new URL(apiBaseUrl(addr));
  return have.hostname === want.hostname && (addr.port === 0 || have.port === want.port);
}

/** The state directory: its lock, the database and the database's checkpointer. */
function openState({ paths, log, inheritedSocketFd }: DaemonOptions, started: UndoStack): { db: Db; checkpointer: Checkpointer } {
  // Checked (or created 0700) before anything is opened in them, never chmod-ed: another
  // user's directory means another user's database and socket (src/fs/private.ts).
  ensurePrivateDir(paths.dataDir, 'state directory');
  if (inheritedSocketFd == null) ensurePrivateDir(paths.runtimeDir, 'socket directory');
  started.defer('state lock', acquirePidLock(paths.lockFile));
  const db = openDb(paths.dbFile);
  started.defer('database', () => db.$client.close());
  freedPagesGoBack(db, log);
  const zone = localTimezone();
  const zoned = zone === null ? 0 : adoptZoneForCalendarJobsWithoutOne(db, zone);
  if (zoned > 0) log.info({ zone, jobs: zoned }, "calendar jobs without a stored time zone now keep the daemon's (job update --timezone changes it)");
  const checkpointer = startCheckpointer(db, paths.dbFile, log.child({ component: 'checkpoint' }));
  started.defer('checkpointer', () => checkpointer.stop());
  return { db, checkpointer };
}

/**
 * A store from before issue 17 converts once to incremental auto-vacuum (store/vacuum.ts), so
 * that the pages compaction and retention free can go back to the file system. A conversion
 * that fails (no room for the rewrite) is logged and the daemon goes on: pages freed inside
 * the file are still reused.
 */
function freedPagesGoBack(db: Db, log: Logger): void {
  try {
    const tookMs = convertToIncrementalVacuum(db);
    if (tookMs !== null) log.info({ tookMs }, 'the store now gives freed space back to the file system (converted once to incremental auto-vacuum)');
  } catch (err) {
    log.warn(
      { err: coerceError(err) },
      'could not convert the store to incremental auto-vacuum (is the disk full?); freed space stays in the file for reuse, tried again at the next start',
    );
  }
}

/** The pooled connections to Action Providers, closed once the runner has stopped. */
function providerAgent(config: ResolvedConfig, started: UndoStack): Dispatcher {
  const agent = createProviderAgent(config.maxConnectionsPerOrigin);
  started.defer('provider connections', () => agent.close());
  return agent;
}

/**
 * `stop()`: unwind what was started, once however often it is asked for; `stopped` settles
 * when it has, true if every step went well. A step that fails is logged and the rest run.
 */
function stopper(started: UndoStack, log: Logger): Pick<Daemon, 'stop' | 'stopped'> {
  let markStopped: (cleanly: boolean) => void = () => {};
  const stopped = new Promise<boolean>((resolve) => (markStopped = resolve));
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      log.info('daemon stopping');
      try {
        await started.unwind((err, step) => log.error({ err: coerceError(err), step }, 'shutdown failed'));
        log.info('daemon stopped');
        markStopped(true);
      } catch (err) {
        markStopped(false);
        throw err;
      }
    })());
  return { stop, stopped };
}
