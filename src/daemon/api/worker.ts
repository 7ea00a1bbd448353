/**
 * The REST API's thread (api/jobs.ts says why it has one): the HTTP server of api/server.ts
 * with the routes of api/routes.ts, reading jobs from its own read-only connection and
 * sending changes to the main thread. Started by api/thread.ts, which it tells `ready` (the
 * URL) or `failed` (why it could not listen); it forwards its log lines there, takes a
 * rotated token, and closes when told to.
 */
import fs from 'node:fs';
import os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { LogFn } from 'pino';
import type { ResolvedConfig } from '../../config/config.ts';
import type { ApiAddr } from '../../core/api-addr.ts';
import { systemClock } from '../../core/clock.ts';
import { JobService } from '../jobs/job-service.ts';
import { openDbReadOnly } from '../store/open.ts';
import { runActionDocumentText } from '../store/runs.ts';
import { runsInWindow } from '../store/run-history.ts';
import type { DaemonEvent } from '../../contract/protocol.ts';
import { dashboard } from './dashboard.ts';
import { dashboardRoutes } from './dashboard-routes.ts';
import { apiJobs, callsOverPort, errorShape } from './jobs.ts';
import { withOpenApi } from './openapi.ts';
import { timersApiRoutes } from './routes.ts';
import { startApiServer, type ApiLog, type ApiServer, type ApiTimeouts } from './server.ts';

export interface ApiWorkerData {
  dbFile: string;
  addr: ApiAddr | null;
  fd: number | null;
  token: string;
  timeouts: Partial<ApiTimeouts> | undefined;
  config: ResolvedConfig;
  /** The daemon log's level: lines below it are not even sent. */
  logLevel: string;
}

type LogLevelName = 'debug' | 'error';

/**
 * What the main thread (api/thread.ts) sends: a rotated token, a dashboard login code
 * (api/sessions.ts; made there, where the RPC that asks for it is answered), a batch of the
 * hub's events for the dashboard's streams, or close.
 */
export type ToApiThread = { token: string } | { loginCode: string } | { events: DaemonEvent[] } | { close: true };
/** What this thread sends besides the job changes of api/jobs.ts. */
export type FromApiThread =
  | { ready: { url: string } }
  | { failed: ReturnType<typeof errorShape> }
  /** How many dashboard event streams are open: the main thread forwards the hub's events while it is > 0. */
  | { eventStreams: number }
  | { log: { level: LogLevelName; obj: unknown; msg: string } };

const LEVEL_VALUES: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Number.POSITIVE_INFINITY };

const port = parentPort;
if (!port) throw new Error('api/worker.ts runs as a worker thread (api/thread.ts starts it)');
const data = workerData as ApiWorkerData;
const post = (m: FromApiThread) => port.postMessage(m);

/** Log lines go to the main thread's logger; an object that cannot be cloned is sent as text. */
function logTo(level: LogLevelName): LogFn {
  const on = (LEVEL_VALUES[level] ?? 0) >= (LEVEL_VALUES[data.logLevel] ?? LEVEL_VALUES.info!);
  return ((obj: unknown, msg?: string) => {
    if (!on) return;
    try {
      post({ log: { level, obj, msg: msg ?? '' } });
    } catch {
      post({ log: { level, obj: { detail: String(obj) }, msg: msg ?? '' } });
    }
  }) as LogFn;
}
const log: ApiLog = { debug: logTo('debug'), error: logTo('error') };

/**
 * The firing path first at the CPU too: on Linux this thread runs at nice 10, so that when
 * the API is busy (a burst of lists) the kernel gives the main thread, which fires the jobs,
 * the core it asks for. setpriority(2) takes a thread id there (/proc/thread-self names it);
 * lowering one's own priority needs no privilege. Elsewhere (no /proc) it is left as it is.
 */
const API_THREAD_NICE = 10;
function lowerThisThreadsPriority(): void {
  try {
    const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) os.setPriority(tid, Math.max(os.getPriority(tid), API_THREAD_NICE));
  } catch {
    // No /proc/thread-self (macOS, an old kernel): the thread keeps the daemon's priority.
  }
}

lowerThisThreadsPriority();
let server: ApiServer | null = null;
const web = dashboard({ onClients: (count) => post({ eventStreams: count }) });
try {
  const db = openDbReadOnly(data.dbFile);
  // Reads only: the service's changes are the main thread's (callsOverPort sends them there).
  const reader = new JobService({ db, clock: systemClock, config: data.config, onScheduleChange: () => {} });
  const jobs = callsOverPort(port, apiJobs(reader));
  // The dashboard's own JSON is not the Timers API: left out of its OpenAPI document.
  const timers = timersApiRoutes({ jobs });
  const list = timers.find((r) => r.method === 'GET' && r.pattern === '/jobs/');
  if (!list) throw new Error('the Timers API routes have no GET /jobs/ for the dashboard');
  const routes = [
    ...withOpenApi(timers, () => server?.url ?? null),
    ...dashboardRoutes({
      jobs,
      runsInWindow: (sinceMs, untilMs, limit) => runsInWindow(db, sinceMs, untilMs, limit),
      actionDocument: (runId) => runActionDocumentText(db, runId),
      listJobs: list.handle,
    }),
  ];
  server = await startApiServer({ addr: data.addr ?? undefined, fd: data.fd ?? undefined, token: data.token, routes, log, timeouts: data.timeouts, web });
  post({ ready: { url: server.url } });
} catch (err) {
  post({ failed: errorShape(err) });
  process.exit(1);
}

port.on('message', (m: ToApiThread) => {
  if ('token' in m) server?.setToken(m.token);
  if ('loginCode' in m) server?.addLoginCode(m.loginCode);
  if ('events' in m) web.broadcast(m.events);
  if ('close' in m) {
    web.close();
    void server?.close().then(() => process.exit(0));
  }
});
