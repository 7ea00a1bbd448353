/**
 * The main thread's side of the REST API's thread (api/jobs.ts says why it has one): start
 * it (api/worker.ts), wait for it to listen, answer the job changes it sends with the job
 * service, log what it logs, and hand it a rotated token; `close` ends it.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../log/logger.ts';
import type { EventHub } from '../events/hub.ts';
import { answerCalls, errorOf, type ApiJobs } from './jobs.ts';
import type { ApiServer } from './server.ts';
import type { ApiWorkerData, FromApiThread, ToApiThread } from './worker.ts';

/**
 * The worker's file: the TypeScript source when running from it (tsx, in tests), the built
 * file beside the bundle's chunks otherwise (scripts/build-cli.mjs names it api-worker.js).
 */
const WORKER_FILE = new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './api-worker.js', import.meta.url);

/**
 * From the built file, a plain worker. From the TypeScript source (tests, `npm run` scripts
 * under tsx), the worker registers tsx first: node 20 does not run the parent's `--import`
 * hooks in a worker, so it could not load a .ts file on its own.
 */
function startWorker(workerData: ApiWorkerData): Worker {
  const execArgv = withoutPreloads(process.execArgv);
  if (!WORKER_FILE.pathname.endsWith('.ts')) return new Worker(WORKER_FILE, { workerData, execArgv });
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(WORKER_FILE.href)}); })`;
  return new Worker(boot, { eval: true, workerData, execArgv });
}

const PRELOAD_FLAGS = new Set(['--import', '--require', '-r', '--loader', '--experimental-loader']);

/**
 * The daemon's node options for the thread, without its preloads: a module preloaded into
 * the daemon (the bench's `--probe`, `--import bench/probe.ts`) is the main thread's
 * business, and the thread could not even load a .ts one (node 20 runs the preloads in a
 * worker, but not the tsx hooks the parent registered), so the API would not start. The
 * other options (--cpu-prof, heap and GC flags) are kept.
 */
export function withoutPreloads(execArgv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!;
    const [name] = arg.split('=', 1);
    if (!PRELOAD_FLAGS.has(name!)) kept.push(arg);
    else if (!arg.includes('=')) i++; // `--import X`: its value is the next word
  }
  return kept;
}

/** How long a closing thread may take to finish its answers before it is stopped. */
const CLOSE_GRACE_MS = 5_000;

/** What the thread is started with (its log level comes from `log`), and what answers it. */
export interface ApiThreadOptions extends Omit<ApiWorkerData, 'logLevel'> {
  /** The changes (submit, pause, …): the main thread's job service. */
  jobs: ApiJobs;
  log: Logger;
  /** The daemon's events: listened to only while a dashboard has its event stream open. */
  events?: Pick<EventHub, 'subscribe'> | undefined;
}

/** Start the API's thread; resolves once it listens, rejects with its reason when it cannot. */
export function startApiThread(o: ApiThreadOptions): Promise<ApiServer> {
  const { jobs, log, events, ...given } = o;
  const workerData: ApiWorkerData = { ...given, logLevel: log.level };
  const worker = startWorker(workerData);
  // Only a thread that served and was not asked to close has gone wrong by ending.
  let state: 'starting' | 'serving' | 'closing' = 'starting';
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  // Subscribed while the dashboard's streams are open: a daemon nobody looks at sends the thread nothing.
  let unsubscribe: (() => void) | null = null;
  const streams = (count: number) => {
    if (count > 0 && !unsubscribe && events) {
      unsubscribe = events.subscribe((batch) => worker.postMessage({ events: batch } satisfies ToApiThread), { runs: 'all' });
    } else if (count === 0 && unsubscribe) {
      unsubscribe();
      unsubscribe = null;
    }
  };
  void exited.then(() => streams(0));
  return new Promise((resolve, reject) => {
    const started = (url: string): ApiServer => ({
      url,
      setToken: (token) => worker.postMessage({ token } satisfies ToApiThread),
      addLoginCode: (code) => worker.postMessage({ loginCode: code } satisfies ToApiThread),
      close: async () => {
        state = 'closing';
        worker.postMessage({ close: true } satisfies ToApiThread);
        const timer = setTimeout(() => void worker.terminate(), CLOSE_GRACE_MS);
        await exited;
        clearTimeout(timer);
      },
    });
    answerCalls(worker, jobs, (message) => {
      const m = message as FromApiThread;
      if ('ready' in m) {
        state = 'serving';
        resolve(started(m.ready.url));
      } else if ('failed' in m) reject(errorOf(m.failed));
      else if ('log' in m) log[m.log.level](m.log.obj as object, m.log.msg);
      else if ('eventStreams' in m) streams(m.eventStreams);
    });
    worker.on('error', (err) => {
      // A bug of ours on that thread: the API is gone, the firing goes on (it is the main thread's).
      if (state === 'serving') log.error({ err }, 'the REST API thread failed; the API is down until the daemon restarts');
      reject(err);
    });
    void exited.then(() => {
      if (state === 'serving') log.error('the REST API thread ended; the API is down until the daemon restarts');
      reject(new Error('the REST API thread ended before it listened'));
    });
  });
}
