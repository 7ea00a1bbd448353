import type { AppPaths } from '../config/paths.ts';
import { PROTOCOL_VERSION, type DaemonStatus } from '../contract/protocol.ts';
import { formatIso } from '../core/time.ts';
import { VERSION } from '../util/package-root.ts';
import type { JobService } from './jobs/job-service.ts';
import type { Handlers } from './rpc-server.ts';
import type { Db } from './store/open.ts';
import { countOpenRuns, recentLatenessMs } from './store/runs.ts';
import { storeSpace } from './store/space.ts';

/** What the routes answer from. */
interface RouteDeps {
  service: JobService;
  db: Db;
  paths: AppPaths;
  /** When the daemon started, epoch ms (`daemon status`: started_at, uptime). */
  startedAtMs: number;
  /** Where the daemon logs, for `daemon status`; null for stderr. */
  logFile: string | null;
  /** Whether systemd passed the listening socket (socket activation). */
  socketActivated: boolean;
  /** The REST API's base URL once it listens (it starts after this socket), else null. */
  apiUrl: () => string | null;
  /** Whether the run bookkeeping's commits are failing now (write-behind.ts), for `daemon status`. */
  writesFailing: () => boolean;
  /** Begin a graceful stop (`daemon.stop`), once the reply has gone out. */
  stop: () => void;
  /** A new REST API token, in its file and in the running API server (`api.rotate_token`). */
  rotateApiToken: () => void;
  /** A one-time dashboard login URL, its code handed to the API server (`api.dashboard_login`). */
  dashboardLogin: () => { url: string };
}

/** How many recent runs `daemon status` summarises for fire lateness. */
const LATENESS_SAMPLE_RUNS = 1_000;

/**
 * The route table: every method of the contract (contract/protocol.ts) and what answers it.
 * The server (rpc-server.ts) checks a call's params against the method's PARAM_SCHEMAS entry
 * before its handler runs, so a handler gets params of its Methods type. What a job method
 * does is the job service's (jobs/job-service.ts); the daemon methods are answered here.
 */
export function rpcRoutes(deps: RouteDeps): Handlers {
  const { service } = deps;
  return {
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
    'daemon.status': () => daemonStatus(deps),
    'daemon.stop': () => {
      // Answer first: the caller then waits for the socket to go away.
      setImmediate(deps.stop);
      return { pid: process.pid };
    },
    'api.rotate_token': () => {
      deps.rotateApiToken();
      return { token_file: deps.paths.apiTokenFile, api_url: deps.apiUrl() };
    },
    'api.dashboard_login': () => deps.dashboardLogin(),
  };
}

function daemonStatus({ service, db, paths, startedAtMs, logFile, socketActivated, apiUrl, writesFailing }: RouteDeps): DaemonStatus {
  return {
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
    log_file: logFile,
    socket_activated: socketActivated,
    api_url: apiUrl(),
    store: storeSpace(paths.dbFile, writesFailing()),
  };
}

/** p50 / p99 / max of a sample, nearest-rank. */
function summarize(samples: number[]): DaemonStatus['fire_lateness_ms'] {
  if (samples.length === 0) return { runs: 0, p50: null, p99: null, max: null };
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  return { runs: sorted.length, p50: rank(0.5), p99: rank(0.99), max: sorted.at(-1)! };
}
