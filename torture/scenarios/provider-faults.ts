/**
 * Provider faults (issue #5 item 2): one fake Action Provider per fault (so faults are per
 * origin) and one healthy provider with many jobs, all driven by the real daemon.
 *
 * Faults: bursts of 5xx, 429 with Retry-After, timeouts (a hang beyond the action timeout),
 * connection resets, a dead provider (never answers), slow bodies, invalid JSON, oversized
 * responses, 422, 404 on status polls, 409 on release. Every reply a provider gave is
 * recorded with what it means (transient, permanent, accepted), so each run's expected end
 * follows from the replies it really got (SPEC §3):
 * - every request of one run carries the run's request_id, and the run counts them;
 * - a transient answer is retried (after the backoff or Retry-After) until the run's retry
 *   window is used up, then the run fails with that error; a permanent answer fails the
 *   run at once and is never re-sent;
 * - the run row (state, error.code, http_status) and the job document (`job.get`) agree.
 *
 * Two phases of equal length and the same healthy job count: in the second a dead
 * provider's jobs fire too. The healthy jobs' fire lateness (provider receive − slot) is
 * measured in both and reported; only a gross slowdown counts as a violation. Every
 * healthy run must succeed at the first attempt and every job must finish its grid.
 *
 * Robust on a busy machine: the daemon's start-up is warm-up (not judged), and when this
 * process (which hosts the providers) stalls, late answers and healthy timeouts are noted
 * rather than judged. The slow-body provider is a small server of its own here: the fake
 * cannot trickle a body (see startSlowBodyProvider).
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { daemonEnv, startDaemon, type DaemonHandle } from '../../bench/lib/daemon.ts';
import { makeTempDir, removeTempDir, sleep, sleepUntil } from '../../bench/lib/procs.ts';
import { seedGrid } from '../../bench/lib/seed.ts';
import { percentiles, type Percentiles } from '../../bench/lib/stats.ts';
import { resolvePaths } from '../../src/config/paths.ts';
import type { RpcClient } from '../../src/contract/client.ts';
import type { JobDocument } from '../../src/contract/protocol.ts';
import type { RunErrorCode } from '../../src/core/vocabulary.ts';
import { startFakeProvider, type FakeProvider, type RecordedRequest, type Reply } from '../../test/support/provider.ts';
import type { Scenario, ScenarioParams, ScenarioResult } from '../lib/scenario.ts';
import { snapshotJobs, verify } from '../lib/verify.ts';

/** Daemon knobs: small, so that timeouts, retries and polls happen within seconds. */
const ACTION_TIMEOUT_MS = 1_000;
const MAX_RESPONSE_BYTES = 64 * 1024;
const RETRY_INITIAL_MS = 100;
const RETRY_MAX_MS = 400;
const POLL_INITIAL_MS = 100;
const POLL_MAX_MS = 400;
const KNOBS: NodeJS.ProcessEnv = {
  GLOBUS_TIMER_ACTION_TIMEOUT_MS: String(ACTION_TIMEOUT_MS),
  GLOBUS_TIMER_MAX_RESPONSE_BYTES: String(MAX_RESPONSE_BYTES),
  GLOBUS_TIMER_RETRY_INITIAL_MS: String(RETRY_INITIAL_MS),
  GLOBUS_TIMER_RETRY_MAX_MS: String(RETRY_MAX_MS),
  GLOBUS_TIMER_POLL_INITIAL_MS: String(POLL_INITIAL_MS),
  GLOBUS_TIMER_POLL_MAX_MS: String(POLL_MAX_MS),
  // Every run kept whole: the checks below read each run's HTTP status, error and retry window
  // from the runs table, which compaction (issue 17) trims for all but a job's newest 10; at the
  // long size (60-s phases) the fault jobs have 30 runs each. Compaction has its own tests.
  GLOBUS_TIMER_FULL_RUNS_PER_JOB: '1000000',
};

/** Fault jobs fire every 4 s: a 2 s retry window (I/2) holds a few backoffs and a Retry-After of 1 s. */
const FAULT_INTERVAL_S = 4;
/**
 * The dead provider's jobs fire every second and are 8× as many (at most 48): more hanging
 * requests than its 16 connections, yet few fires, so the second phase does not load the
 * daemon much more than the first.
 */
const DEAD_INTERVAL_S = 1;
const DEAD_JOBS_PER_FAULT_JOB = 8;
const DEAD_JOBS_MAX = 48;
const HEALTHY_INTERVAL_S = 1;
/** Lateness of the first second (daemon and JIT warming up) is not compared. */
const WARMUP_MS = 1_000;
/**
 * The providers run in this process: if its event loop stalled longer than this, fires were
 * received late and answers sent late because the machine was starved, so healthy timeouts
 * and lateness are reported, not judged.
 */
const STARVED_LAG_MS = 250;
/** Slack for "sent at least this long after": timers never fire early, receive times jitter a little. */
const TIMING_SLACK_MS = 25;

/** What a reply means for the run that got it. */
type Meaning =
  /** Retry with the same request_id; if the run gives up here it fails with one of `codes`. */
  | { kind: 'transient'; codes: RunErrorCode[]; httpStatus: number | null; retryAfterMs?: number }
  /** The run fails at once with `code`, keeping the provider's error (`providerCode`). */
  | { kind: 'permanent'; code: RunErrorCode; httpStatus: number | null; providerCode?: string }
  /** Accepted; the run then ends as `then` says. */
  | { kind: 'accepted'; after: 'succeeded' | 'status-404' | 'release-409' };

interface Planned {
  reply: Reply;
  means: Meaning;
}

/** For the slow-body provider, which the fake cannot be (it answers in one write). */
type SlowReply = { kind: 'slow'; chunkMs: number; chunks: number } | { kind: 'slow-forever'; chunkMs: number } | { kind: 'fast' };

interface Fault {
  name: string;
  describe: string;
  /** How to answer attempt `attempt` (0-based, as the provider saw them) of a run of job `idx`. */
  plan(idx: number, attempt: number): Planned;
  /** How to answer status poll `poll` (0-based) of an action; default: the fake's own. */
  statusPlan?(actionId: string, poll: number): Reply;
  /** Jobs whose runs are designed to recover after transient answers (for the summary). */
  recovers?(idx: number): boolean;
}

const accepted = (): Planned => ({ reply: { kind: 'accept', httpStatus: 202, final: 'SUCCEEDED' }, means: { kind: 'accepted', after: 'succeeded' } });
const http5xx = (status: number, body: unknown): Planned => ({
  reply: { kind: 'raw', httpStatus: status, body },
  means: { kind: 'transient', codes: ['ACTION_HTTP'], httpStatus: status },
});
const hang = (): Planned => ({ reply: { kind: 'hang' }, means: { kind: 'transient', codes: ['ACTION_TIMEOUT'], httpStatus: null } });
const reset = (): Planned => ({ reply: { kind: 'reset' }, means: { kind: 'transient', codes: ['ACTION_NETWORK'], httpStatus: null } });
/** Every third job never recovers: its runs use up the retry window and fail. */
const doomed = (idx: number) => idx % 3 === 2;

/** A valid status document, padded past the response cap. */
function oversizedDocument(): Record<string, unknown> {
  return { action_id: randomUUID(), status: 'SUCCEEDED', details: { padding: 'x'.repeat(2 * MAX_RESPONSE_BYTES) } };
}

const FAULTS: Fault[] = [
  {
    name: '5xx',
    describe: 'bursts of 500/502/503/504 (JSON and HTML bodies), then accepted; every third job never recovers',
    plan: (idx, attempt) => {
      const bodies = [{ code: 'InternalError', description: 'boom' }, '<html><body>502 Bad Gateway</body></html>', { code: 'ServiceUnavailable' }, ''];
      const statuses = [500, 502, 503, 504];
      if (doomed(idx) || attempt < 2) return http5xx(statuses[(idx + attempt) % 4]!, bodies[(idx + attempt) % 4]);
      return accepted();
    },
    recovers: (idx) => !doomed(idx),
  },
  {
    name: '429',
    describe: '429 with Retry-After: 1 then accepted; every third job gets Retry-After: 30, beyond its retry window',
    plan: (idx, attempt) => {
      if (attempt > 0) return accepted();
      const seconds = doomed(idx) ? 30 : 1;
      return {
        reply: { kind: 'raw', httpStatus: 429, body: { code: 'TooManyRequests', description: 'slow down' }, headers: { 'retry-after': String(seconds) } },
        means: { kind: 'transient', codes: ['ACTION_HTTP'], httpStatus: 429, retryAfterMs: seconds * 1000 },
      };
    },
    recovers: (idx) => !doomed(idx),
  },
  {
    name: 'timeout',
    describe: `no answer for the first attempt (hang beyond the ${ACTION_TIMEOUT_MS} ms action timeout), then accepted; every third job always hangs`,
    plan: (idx, attempt) => (doomed(idx) || attempt === 0 ? hang() : accepted()),
    recovers: (idx) => !doomed(idx),
  },
  {
    name: 'reset',
    describe: 'connection reset for two attempts, then accepted; every third job always resets',
    plan: (idx, attempt) => (doomed(idx) || attempt < 2 ? reset() : accepted()),
    recovers: (idx) => !doomed(idx),
  },
  {
    name: 'slow-body',
    describe: `202 headers at once, body trickling: within the timeout (even jobs' first attempts), or forever (odd jobs' first attempts, every attempt of every third job)`,
    // Answered by the slow provider below; the plan only says what each answer means.
    plan: (idx, attempt) => {
      if (doomed(idx) || (attempt === 0 && idx % 2 === 1))
        return { reply: { kind: 'hang' }, means: { kind: 'transient', codes: ['ACTION_TIMEOUT'], httpStatus: null } };
      return accepted();
    },
    recovers: (idx) => !doomed(idx),
  },
  {
    name: 'invalid-json',
    describe: '200 with a truncated JSON body (fails at once); odd jobs: 502 with an HTML body first (retried), then accepted',
    plan: (idx, attempt) => {
      if (idx % 2 === 0) {
        return {
          reply: { kind: 'raw', httpStatus: 200, body: '{"action_id": "x", "status": "SUCC', headers: { 'content-type': 'application/json' } },
          means: { kind: 'permanent', code: 'ACTION_INVALID_RESPONSE', httpStatus: 200 },
        };
      }
      return attempt === 0 ? http5xx(502, '<html>upstream went away</html>') : accepted();
    },
    recovers: (idx) => idx % 2 === 1,
  },
  {
    name: 'oversized',
    describe: `202 with a ${(2 * MAX_RESPONSE_BYTES) >> 10} KiB status document (cap ${MAX_RESPONSE_BYTES >> 10} KiB: fails at once); odd jobs: 503 with an oversized body first (a 5xx: retried), then accepted`,
    plan: (idx, attempt) => {
      if (idx % 2 === 0) {
        return {
          reply: { kind: 'raw', httpStatus: 202, body: oversizedDocument() },
          means: { kind: 'permanent', code: 'ACTION_RESPONSE_TOO_LARGE', httpStatus: null },
        };
      }
      if (attempt > 0) return accepted();
      // SPEC §3: a 5xx is transient, whatever its body; the status line says so before the body is read.
      return {
        reply: { kind: 'raw', httpStatus: 503, body: `<html>${'overloaded '.repeat(MAX_RESPONSE_BYTES / 5)}</html>` },
        means: { kind: 'transient', codes: ['ACTION_HTTP', 'ACTION_RESPONSE_TOO_LARGE'], httpStatus: 503 },
      };
    },
    recovers: (idx) => idx % 2 === 1,
  },
  {
    name: 'http-422',
    describe: '422 with a Globus error document: fails at once, keeping the error',
    plan: () => ({
      reply: { kind: 'raw', httpStatus: 422, body: { code: 'UnprocessableEntity', description: 'the body does not fit the input schema' } },
      means: { kind: 'permanent', code: 'ACTION_HTTP', httpStatus: 422, providerCode: 'UnprocessableEntity' },
    }),
  },
  {
    name: 'status-404',
    describe: 'accepted as ACTIVE; status polls: ACTIVE twice, then 404: the run fails at once as ACTION_STATUS_UNKNOWN',
    plan: () => ({ reply: { kind: 'accept', httpStatus: 202, activePolls: 1_000_000 }, means: { kind: 'accepted', after: 'status-404' } }),
    statusPlan: (_actionId, poll) =>
      poll < 2 ? { kind: 'accept' } : { kind: 'raw', httpStatus: 404, body: { code: 'NotFound', description: 'no such action' } },
  },
  {
    name: 'release-409',
    describe: 'accepted as ACTIVE, first status poll SUCCEEDED, release answered 409: the run still succeeds',
    plan: () => ({ reply: { kind: 'accept', httpStatus: 202, activePolls: 1_000_000 }, means: { kind: 'accepted', after: 'release-409' } }),
    statusPlan: (actionId) => ({
      kind: 'raw',
      httpStatus: 200,
      body: {
        action_id: actionId,
        status: 'SUCCEEDED',
        display_status: 'SUCCEEDED',
        label: null,
        details: { files_transferred: 1 },
        completion_time: new Date().toISOString(),
      },
    }),
  },
  {
    name: 'dead',
    describe: `accepts connections, never answers (second phase only; ${DEAD_JOBS_PER_FAULT_JOB}× the jobs, at most ${DEAD_JOBS_MAX}, every ${DEAD_INTERVAL_S} s)`,
    plan: () => hang(),
  },
];

/** A provider of one fault: its records and, for each run request, what its reply meant. */
interface FaultProvider {
  fault: Fault;
  runUrl: string;
  requests: RecordedRequest[];
  meaning: Map<RecordedRequest, Meaning>;
  /** Status polls per action id, and the replies given to them. */
  polls: Map<string, Reply[]>;
  runRequests(): RecordedRequest[];
  releaseRequests(): RecordedRequest[];
  close(): Promise<void>;
}

/** A queue that never runs dry: every `shift()` asks `next`, right after the request was recorded. */
function endless(next: () => Reply): Reply[] {
  const queue: Reply[] = [];
  queue.shift = next;
  return queue;
}

function requestIdOf(req: RecordedRequest): string {
  return String((req.body as { request_id?: unknown } | null)?.request_id);
}

function jobIndexOf(req: RecordedRequest): number {
  return Number((req.body as { body?: { job?: unknown } } | null)?.body?.job);
}

function bump(counts: Map<string, number>, key: string): number {
  const n = counts.get(key) ?? 0;
  counts.set(key, n + 1);
  return n;
}

/** The fake provider (test/support/provider.ts), answering as the fault plans. */
async function startFaultProvider(fault: Fault): Promise<FaultProvider> {
  const ap: FakeProvider = await startFakeProvider();
  const meaning = new Map<RecordedRequest, Meaning>();
  const attempts = new Map<string, number>();
  const polls = new Map<string, Reply[]>();
  // The fake shifts a reply synchronously right after recording the request, so the last
  // record is the request being answered.
  ap.runReplies = endless(() => {
    const req = ap.requests[ap.requests.length - 1]!;
    const planned = fault.plan(jobIndexOf(req), bump(attempts, requestIdOf(req)));
    meaning.set(req, planned.means);
    return planned.reply;
  });
  const statusPlan = fault.statusPlan;
  if (statusPlan) {
    ap.statusReplies = endless(() => {
      const req = ap.requests[ap.requests.length - 1]!;
      const actionId = decodeURIComponent(/\/([^/]+)\/status$/.exec(req.path)?.[1] ?? '');
      const given = polls.get(actionId) ?? polls.set(actionId, []).get(actionId)!;
      const reply = statusPlan(actionId, given.length);
      given.push(reply);
      return reply;
    });
  }
  return { fault, runUrl: ap.runUrl, requests: ap.requests, meaning, polls, runRequests: ap.runRequests, releaseRequests: ap.releaseRequests, close: ap.close };
}

/**
 * The slow-body provider: the fake writes each answer at once, so it cannot trickle a body
 * (it would need a reply kind like `{kind: 'slow', httpStatus, body, chunkMs, chunks}` that
 * sends the headers, then the body in `chunks` pieces `chunkMs` apart, or forever). This
 * small server does only that, recording requests the way the fake does.
 */
async function startSlowBodyProvider(fault: Fault): Promise<FaultProvider> {
  const requests: RecordedRequest[] = [];
  const meaning = new Map<RecordedRequest, Meaning>();
  const attempts = new Map<string, number>();
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const slowReply = (idx: number, attempt: number): SlowReply => {
    if (doomed(idx) || (attempt === 0 && idx % 2 === 1)) return { kind: 'slow-forever', chunkMs: 100 };
    return attempt === 0 ? { kind: 'slow', chunkMs: 40, chunks: 4 } : { kind: 'fast' };
  };
  const server = http.createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (text += c));
    req.on('end', () => {
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = text;
      }
      const record: RecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '/',
        body,
        headers: req.headers,
        receivedAtMs: Date.now(),
        schemaErrors: [],
      };
      requests.push(record);
      if (!(req.method === 'POST' && record.path.endsWith('/run'))) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: 'NotFound' }));
        return;
      }
      const idx = jobIndexOf(record);
      const attempt = bump(attempts, requestIdOf(record));
      meaning.set(record, fault.plan(idx, attempt).means);
      const reply = slowReply(idx, attempt);
      // A body cut off by the daemon's deadline (a starved machine) was, for it, a timeout.
      res.on('close', () => {
        if (!res.writableFinished) meaning.set(record, { kind: 'transient', codes: ['ACTION_TIMEOUT'], httpStatus: null });
      });
      const doc = JSON.stringify({ action_id: randomUUID(), status: 'SUCCEEDED', display_status: 'SUCCEEDED', label: null, details: { slow: true } });
      res.writeHead(202, { 'content-type': 'application/json' });
      if (reply.kind === 'fast') return void res.end(doc);
      if (reply.kind === 'slow') {
        const size = Math.ceil(doc.length / reply.chunks);
        let sent = 0;
        const step = () => {
          const piece = doc.slice(sent, sent + size);
          sent += size;
          if (sent >= doc.length) return void res.end(piece);
          res.write(piece);
          const t = setTimeout(() => {
            timers.delete(t);
            step();
          }, reply.chunkMs);
          timers.add(t);
        };
        return step();
      }
      // Forever: the start of the document, then a space now and then (valid JSON never completes).
      res.write(doc.slice(0, 20));
      const t = setInterval(() => {
        if (!res.destroyed) res.write(' ');
        else {
          clearInterval(t);
          timers.delete(t);
        }
      }, reply.chunkMs);
      timers.add(t);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    fault,
    runUrl: `http://127.0.0.1:${port}/ap/run`,
    requests,
    meaning,
    polls: new Map(),
    runRequests: () => requests.filter((r) => r.method === 'POST' && r.path.endsWith('/run')),
    releaseRequests: () => requests.filter((r) => r.path.endsWith('/release')),
    async close() {
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface RunRow {
  job_id: string;
  slot_at_ms: number;
  request_id: string;
  state: string;
  attempts: number;
  http_status: number | null;
  action_id: string | null;
  action_status: string | null;
  error: string | null;
  retry_until_ms: number;
  completed_at_ms: number | null;
}

interface JobCounts {
  id: string;
  start_at_ms: number;
  interval_seconds: number;
  stop_after_date_ms: number;
  next_slot_index: number;
  status: string;
  run_count: number;
  missed_slots: number;
  overlap_skipped_slots: number;
}

interface RunError {
  code?: RunErrorCode;
  providerError?: { code?: unknown } | unknown;
}

function fmt(p: Percentiles, n: number): string {
  const r = (x: number | null) => (x === null ? '–' : x.toFixed(0));
  return `p50 ${r(p.p50)} / p99 ${r(p.p99)} / max ${r(p.max)} ms over ${n} fires`;
}

/** Pino JSON lines at level error (50) or above in the daemon's log: each is a bug here. */
function loggedErrors(logFile: string): string[] {
  const out: string[] = [];
  let text = '';
  try {
    text = fs.readFileSync(logFile, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
      if ((entry.level ?? 0) >= 50) out.push(`${entry.msg ?? '?'}${entry.err?.message ? `: ${entry.err.message}` : ''}`);
    } catch {
      // not a log line
    }
  }
  return out;
}

async function runScenario(params: ScenarioParams, log: (line: string) => void): Promise<ScenarioResult> {
  const healthyJobs = Math.max(1, Math.round(params.healthyJobs ?? 100));
  const faultJobs = Math.max(3, Math.round(params.faultJobs ?? 6));
  const phaseMs = Math.max(4, params.phaseS ?? 8) * 1000;
  const home = makeTempDir('gtt-pf-');
  const providers: FaultProvider[] = [];
  let healthy: FakeProvider | undefined;
  let daemon: DaemonHandle | undefined;
  try {
    healthy = await startFakeProvider();
    for (const fault of FAULTS) providers.push(fault.name === 'slow-body' ? await startSlowBodyProvider(fault) : await startFaultProvider(fault));

    const env = daemonEnv(home, KNOBS);
    const { dbFile } = resolvePaths(env);
    // Leave the daemon time to start (on a busy machine) before the first slot.
    const t0 = Date.now() + 4_000;
    const healthyIds = seedGrid(dbFile, { n: healthyJobs, intervalS: HEALTHY_INTERVAL_S, t0Ms: t0, durationMs: 2 * phaseMs }, healthy.runUrl);
    const jobFault = new Map<string, FaultProvider>();
    for (const p of providers) {
      const dead = p.fault.name === 'dead';
      const grid = dead
        ? { n: Math.min(DEAD_JOBS_MAX, faultJobs * DEAD_JOBS_PER_FAULT_JOB), intervalS: DEAD_INTERVAL_S, t0Ms: t0 + phaseMs, durationMs: phaseMs }
        : { n: faultJobs, intervalS: FAULT_INTERVAL_S, t0Ms: t0, durationMs: 2 * phaseMs };
      for (const id of seedGrid(dbFile, grid, p.runUrl)) jobFault.set(id, p);
    }
    const before = snapshotJobs(dbFile);
    log(`${healthyJobs} healthy jobs every ${HEALTHY_INTERVAL_S} s, ${faultJobs} jobs per fault (${FAULTS.length} faults), two phases of ${phaseMs / 1000} s`);

    daemon = await startDaemon(home, { env: KNOBS });
    const readyAt = Date.now();
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    if (readyAt > t0) log(`daemon was ready ${readyAt - t0} ms after the first slot: a slow start (those slots are warm-up)`);
    await sleepUntil(t0 + phaseMs);
    log("phase 2: the dead provider's jobs start firing");
    await sleepUntil(t0 + 2 * phaseMs + 200);
    lag.disable();
    const maxLagMs = lag.max / 1e6;

    // Let every run end: retries (window ≤ 2 s), polls and releases.
    const client: RpcClient = await daemon.connect();
    const docs = new Map<string, JobDocument>();
    let inFlight = -1;
    try {
      const settleBy = Date.now() + 30_000;
      for (;;) {
        inFlight = (await client.call('daemon.status', {})).runs_in_flight;
        if (inFlight === 0 || Date.now() > settleBy) break;
        await sleep(200);
      }
      await sleep(300); // releases are sent right after a run ends
      for (const id of jobFault.keys()) docs.set(id, await client.call('job.get', { job_id: id }));
    } finally {
      client.close();
    }
    const stopped = await daemon.stop();

    const allRunRequests = [...healthy.runRequests(), ...providers.flatMap((p) => p.runRequests())];
    const result = verify('provider-faults', dbFile, allRunRequests, before);
    if (stopped !== 0) result.violations.push(`the daemon exited with ${stopped} on SIGTERM, not 0`);
    if (inFlight !== 0) result.violations.push(`${inFlight} runs still in flight 30 s after the last slot`);
    for (const e of [...new Set(loggedErrors(daemon.logFile))].slice(0, 5)) result.violations.push(`daemon logged an error: ${e}`);

    const db = new Database(dbFile, { readonly: true, fileMustExist: true });
    let runs: RunRow[];
    let jobRows: JobCounts[];
    try {
      runs = db
        .prepare(
          'SELECT job_id, slot_at_ms, request_id, state, attempts, http_status, action_id, action_status, error, retry_until_ms, completed_at_ms FROM runs',
        )
        .all() as RunRow[];
      jobRows = db
        .prepare(
          'SELECT id, start_at_ms, interval_seconds, stop_after_date_ms, next_slot_index, status, run_count, missed_slots, overlap_skipped_slots FROM jobs',
        )
        .all() as JobCounts[];
    } finally {
      db.close();
    }
    const runByRequest = new Map(runs.map((r) => [r.request_id, r]));

    const starved = maxLagMs >= STARVED_LAG_MS;
    checkFaultRuns(result, providers, runs, jobFault, starved);
    checkDocuments(result, docs, runs);
    result.notes.push(`this process's event loop (the providers) stalled at most ${maxLagMs.toFixed(0)} ms`);
    checkHealthy(result, healthy, healthyIds, runByRequest, jobRows, Math.max(t0 + WARMUP_MS, readyAt + WARMUP_MS), t0 + phaseMs, starved);
    // Every job ran its whole grid: finished, with every slot up to its stop date decided.
    const unfinished = jobRows.filter(
      (j) => j.status !== 'finished' || j.next_slot_index !== Math.floor((j.stop_after_date_ms - j.start_at_ms) / (j.interval_seconds * 1000)) + 1,
    );
    for (const j of unfinished.slice(0, 5)) result.violations.push(`job ${j.id} is ${j.status} at slot ${j.next_slot_index} after its stop date had passed`);
    if (unfinished.length > 5) result.violations.push(`… and ${unfinished.length - 5} more jobs did not finish their grid`);
    return result;
  } finally {
    if (daemon) await daemon.stop();
    for (const p of providers) await p.close().catch(() => {});
    await healthy?.close().catch(() => {});
    removeTempDir(home);
  }
}

/** Each fault run against the replies it got (SPEC §3). */
function checkFaultRuns(result: ScenarioResult, providers: FaultProvider[], runs: RunRow[], jobFault: Map<string, FaultProvider>, starved: boolean): void {
  const problems = new Map<string, string[]>();
  const flag = (fault: string, what: string) => (problems.get(fault) ?? problems.set(fault, []).get(fault)!).push(what);
  for (const p of providers) {
    const name = p.fault.name;
    const seenBy = new Map<string, RecordedRequest[]>();
    for (const req of p.runRequests()) (seenBy.get(requestIdOf(req)) ?? seenBy.set(requestIdOf(req), []).get(requestIdOf(req))!).push(req);
    const releasedActions = new Set(p.releaseRequests().map((r) => decodeURIComponent(/\/([^/]+)\/release$/.exec(r.path)?.[1] ?? '')));
    const tally = { runs: 0, succeeded: 0, failed: 0, retried: 0, recovered: 0, designedToRecover: 0, unseenAttempts: 0, lateAnswers: 0 };
    for (const run of runs) {
      if (jobFault.get(run.job_id) !== p) continue;
      tally.runs += 1;
      if (run.state === 'succeeded') tally.succeeded += 1;
      if (run.state === 'failed') tally.failed += 1;
      const tag = `run ${run.request_id.slice(0, 8)}`;
      const seen = (seenBy.get(run.request_id) ?? []).sort((a, b) => a.receivedAtMs - b.receivedAtMs);
      const error = run.error ? (JSON.parse(run.error) as RunError) : null;
      if (seen.length > 1) tally.retried += 1;
      tally.unseenAttempts += Math.max(0, run.attempts - seen.length);
      if (seen.length > run.attempts) flag(name, `${tag}: the provider saw ${seen.length} requests but the run counts ${run.attempts} attempts`);
      if (seen.length === 0) {
        // Only a dead provider's full connection pool keeps a request from arriving: it timed out queued.
        if (name !== 'dead') flag(name, `${tag}: fired (${run.attempts} attempts) but never reached the provider`);
        else if (run.state !== 'failed' || error?.code !== 'ACTION_TIMEOUT')
          flag(name, `${tag}: never reached the dead provider, yet ended ${run.state} ${error?.code ?? ''}`);
        continue;
      }
      const meanings = seen.map((r) => p.meaning.get(r));
      const idx = jobIndexOf(seen[0]!);
      if (p.fault.recovers?.(idx)) {
        tally.designedToRecover += 1;
        if (run.state === 'succeeded' && seen.length > 1) tally.recovered += 1;
      }
      // Every answer before the last was transient, and the retry waited for the backoff / Retry-After.
      for (let i = 0; i < seen.length - 1; i++) {
        const m = meanings[i];
        const gap = seen[i + 1]!.receivedAtMs - seen[i]!.receivedAtMs;
        if (m?.kind !== 'transient') {
          // Re-sent sooner than the deadline: the daemon had the answer and retried anyway.
          // Later, the answer may have come too late for it (a starved machine): only noted.
          if (gap < ACTION_TIMEOUT_MS - TIMING_SLACK_MS) flag(name, `${tag}: re-sent ${gap} ms after an answer meaning ${m?.kind ?? 'unknown'}`);
          else tally.lateAnswers += 1;
          continue;
        }
        const minGap = Math.max(RETRY_INITIAL_MS, m.retryAfterMs ?? 0) - TIMING_SLACK_MS;
        if (gap < minGap)
          flag(
            name,
            `${tag}: attempt ${i + 2} came ${gap} ms after attempt ${i + 1}, before the ${m.retryAfterMs ? `Retry-After of ${m.retryAfterMs} ms` : `backoff of ${RETRY_INITIAL_MS} ms`}`,
          );
      }
      const last = meanings[meanings.length - 1];
      const got = `${run.state} ${error?.code ?? '-'} http ${run.http_status ?? '-'}`;
      if (!last) {
        flag(name, `${tag}: no record of the provider's answer`);
        continue;
      }
      if (last.kind === 'accepted' && starved && run.state === 'failed' && error?.code === 'ACTION_TIMEOUT') {
        tally.lateAnswers += 1; // the acceptance reached a starved daemon after its deadline
      } else if (last.kind === 'accepted') {
        const wantState = last.after === 'status-404' ? 'failed' : 'succeeded';
        const wantCode = last.after === 'status-404' ? 'ACTION_STATUS_UNKNOWN' : null;
        // 202 for a new action; 200 when a re-sent request_id finds its action (the provider deduplicates).
        const httpOk = run.http_status === 202 || (seen.length > 1 && run.http_status === 200);
        if (run.state !== wantState || (error?.code ?? null) !== wantCode || !httpOk || !run.action_id) {
          flag(name, `${tag}: accepted (${last.after}), expected ${wantState} ${wantCode ?? '-'} http 202 with an action_id, got ${got}`);
        }
        if (last.after === 'status-404' && run.action_id) {
          const given = p.polls.get(run.action_id) ?? [];
          const first404 = given.findIndex((r) => r.kind === 'raw' && r.httpStatus === 404);
          if (first404 < 0) flag(name, `${tag}: failed without having been answered 404 on a status poll`);
          else if (first404 !== given.length - 1) flag(name, `${tag}: polled ${given.length - 1 - first404} more times after a 404`);
        }
        if (last.after === 'release-409' && run.action_id && !releasedActions.has(run.action_id))
          flag(name, `${tag}: succeeded but its action was never released`);
      } else if (last.kind === 'permanent') {
        if (run.state !== 'failed' || error?.code !== last.code || run.http_status !== last.httpStatus) {
          flag(name, `${tag}: permanent answer, expected failed ${last.code} http ${last.httpStatus ?? '-'}, got ${got}`);
        }
        if (last.providerCode && (error?.providerError as { code?: unknown } | undefined)?.code !== last.providerCode) {
          flag(name, `${tag}: the provider's error (${last.providerCode}) was not kept: ${JSON.stringify(error?.providerError)}`);
        }
      } else {
        // Gave up on a transient answer: only once the retry window was used up.
        const unseen = run.attempts > seen.length;
        const codes = unseen ? [...last.codes, 'ACTION_TIMEOUT', 'ACTION_NETWORK'] : last.codes;
        const wantHttp = error?.code === 'ACTION_HTTP' ? last.httpStatus : null;
        if (run.state !== 'failed' || !codes.includes(error?.code ?? '') || run.http_status !== wantHttp) {
          flag(name, `${tag}: last answer transient, expected failed ${codes.join('|')} http ${wantHttp ?? '-'} after the retry window, got ${got}`);
        }
        const waitMs = Math.max(RETRY_MAX_MS, last.retryAfterMs ?? 0);
        if (run.completed_at_ms !== null && run.completed_at_ms < run.retry_until_ms - waitMs - TIMING_SLACK_MS) {
          flag(name, `${tag}: answered ${describeSeen(seen, p)}, gave up ${run.retry_until_ms - run.completed_at_ms} ms before its retry window ended: ${got}`);
        }
      }
    }
    if (tally.runs === 0) flag(name, 'no run fired at all');
    if (tally.designedToRecover > 0 && tally.recovered === 0)
      flag(name, `none of ${tally.designedToRecover} runs designed to recover after transient answers did`);
    const unseen =
      (tally.unseenAttempts ? `, ${tally.unseenAttempts} attempts timed out before reaching it` : '') +
      (tally.lateAnswers ? `, ${tally.lateAnswers} answers reached the daemon after its deadline (a busy machine)` : '');
    result.notes.push(
      `${name}: ${tally.runs} runs, ${tally.succeeded} succeeded (${tally.recovered} after retries), ${tally.failed} failed, ${tally.retried} retried${unseen} — ${p.fault.describe}`,
    );
  }
  for (const [fault, list] of problems) {
    for (const what of list.slice(0, 5)) result.violations.push(`${fault}: ${what}`);
    if (list.length > 5) result.violations.push(`${fault}: … and ${list.length - 5} more like these`);
  }
}

/** What the provider answered a run, e.g. `503, 503, 202`. */
function describeSeen(seen: RecordedRequest[], p: FaultProvider): string {
  return seen
    .map((r) => {
      const m = p.meaning.get(r);
      if (!m) return '?';
      if (m.kind === 'accepted') return 'accepted';
      if (m.httpStatus !== null) return `HTTP ${m.httpStatus}`;
      return (m.kind === 'permanent' ? m.code : m.codes[0]!).replace('ACTION_', '').toLowerCase();
    })
    .join(', ');
}

/** The job document (RPC job.get) says what the runs table says. */
function checkDocuments(result: ScenarioResult, docs: Map<string, JobDocument>, runs: RunRow[]): void {
  const runByRequest = new Map(runs.map((r) => [r.request_id, r]));
  const mismatches: string[] = [];
  for (const [id, doc] of docs) {
    const mine = runs.filter((r) => r.job_id === id);
    const failed = mine.filter((r) => r.state === 'failed').length;
    if (doc.n_runs !== mine.length) mismatches.push(`job ${id}: n_runs ${doc.n_runs}, ${mine.length} runs`);
    if (doc.n_errors !== failed) mismatches.push(`job ${id}: n_errors ${doc.n_errors}, ${failed} failed runs`);
    if (doc.status !== 'finished') mismatches.push(`job ${id}: status ${doc.status} after its last slot, not finished`);
    if (doc.inactive_reason !== null) mismatches.push(`job ${id}: made inactive by a provider fault: ${JSON.stringify(doc.inactive_reason)}`);
    if (doc.results.data.length !== Math.min(10, mine.length))
      mismatches.push(`job ${id}: ${doc.results.data.length} results, expected ${Math.min(10, mine.length)}`);
    for (const entry of doc.results.data) {
      const run = runByRequest.get(entry.request_id);
      if (!run) {
        mismatches.push(`job ${id}: result ${entry.request_id} has no run row`);
        continue;
      }
      const code = run.error ? ((JSON.parse(run.error) as RunError).code ?? null) : null;
      const shown = entry.errors as RunError | null;
      if (
        entry.run_state !== run.state ||
        entry.status !== run.http_status ||
        (shown?.code ?? null) !== code ||
        entry.attempts !== run.attempts ||
        entry.action_id !== run.action_id
      ) {
        mismatches.push(
          `job ${id}: result ${entry.request_id.slice(0, 8)} shows ${entry.run_state}/${shown?.code ?? '-'}/http ${entry.status}/${entry.attempts} attempts, the run is ${run.state}/${code ?? '-'}/http ${run.http_status}/${run.attempts}`,
        );
      }
    }
  }
  for (const m of mismatches.slice(0, 5)) result.violations.push(`job document: ${m}`);
  if (mismatches.length > 5) result.violations.push(`job document: … and ${mismatches.length - 5} more`);
  result.notes.push(`job.get checked for ${docs.size} fault jobs`);
}

/** Healthy jobs: every run succeeded first time; lateness without vs. with the dead provider. */
function checkHealthy(
  result: ScenarioResult,
  healthy: FakeProvider,
  healthyIds: string[],
  runByRequest: Map<string, RunRow>,
  jobRows: JobCounts[],
  /** Slots from here (after the daemon's warm-up) are judged; the dead provider's jobs start at `phase2At`. */
  judgedFrom: number,
  phase2At: number,
  /** The providers' process was starved: timeouts and lateness are noted, not judged. */
  starved: boolean,
): void {
  const ids = new Set(healthyIds);
  const seen = new Map<string, number>();
  const without: number[] = [];
  const withDead: number[] = [];
  for (const req of healthy.runRequests()) {
    const rid = requestIdOf(req);
    if (bump(seen, rid) > 0) continue;
    const run = runByRequest.get(rid);
    if (!run) continue; // verify() reported it
    const late = req.receivedAtMs - run.slot_at_ms;
    if (run.slot_at_ms < judgedFrom) continue;
    if (run.slot_at_ms < phase2At) without.push(late);
    else withDead.push(late);
  }
  const resent = [...seen.values()].filter((n) => n > 1).length;
  if (resent) result.notes.push(`healthy provider: ${resent} runs were re-sent (same request_id) though it always answered at once: a busy machine`);
  const notSucceeded = [...runByRequest.values()].filter((r) => ids.has(r.job_id) && r.state !== 'succeeded');
  const judged = notSucceeded.filter((r) => r.slot_at_ms >= judgedFrom);
  if (judged.length) {
    const codes = [...new Set(judged.map((r) => (r.error ? (JSON.parse(r.error) as RunError).code : r.state)))];
    const line = `healthy provider: ${judged.length} runs did not succeed (${codes.join(', ')})`;
    if (starved && codes.every((c) => c === 'ACTION_TIMEOUT')) result.notes.push(`${line}: this process was starved, so its answers were late`);
    else result.violations.push(line);
  }
  if (notSucceeded.length > judged.length)
    result.notes.push(`healthy provider: ${notSucceeded.length - judged.length} runs during the daemon's warm-up did not succeed`);
  const rows = jobRows.filter((j) => ids.has(j.id));
  const missed = rows.reduce((s, j) => s + j.missed_slots, 0);
  const overlap = rows.reduce((s, j) => s + j.overlap_skipped_slots, 0);
  const ran = rows.reduce((s, j) => s + j.run_count, 0);
  result.notes.push(`healthy jobs: ${ran} runs, ${missed} slots missed, ${overlap} overlap-skipped`);

  const a = percentiles(without);
  const b = percentiles(withDead);
  result.notes.push(`healthy fire lateness (provider receive − slot), dead provider absent: ${fmt(a, without.length)}`);
  result.notes.push(`healthy fire lateness (provider receive − slot), dead provider present: ${fmt(b, withDead.length)}`);
  if (without.length < 20 || withDead.length < 20) {
    // Only when the daemon took most of the first phase to start; the grid checks still hold.
    result.notes.push(`healthy lateness not compared: ${without.length} fires without and ${withDead.length} with the dead provider after the warm-up`);
  } else if (a.p99 !== null && b.p99 !== null && b.p99 > 10 * Math.max(a.p99, 1) && b.p99 - a.p99 > 200) {
    const line = `a dead provider delays healthy fires: p99 lateness ${b.p99.toFixed(0)} ms with it vs ${a.p99.toFixed(0)} ms without`;
    if (starved) result.notes.push(`${line}, but this process was starved, so receive times are not to be trusted`);
    else result.violations.push(line);
  }
}

export const providerFaults: Scenario = {
  name: 'provider-faults',
  describe:
    'faulty Action Providers (5xx, 429, timeouts, resets, dead, slow bodies, bad JSON, oversized, 404 polls, 409 releases): runs end as SPEC §3 says; a dead one does not delay healthy fires',
  fast: { healthyJobs: 100, faultJobs: 6, phaseS: 8 },
  // The daemon saturates one core near 400 fires/s here (BENCHMARKS.md): stay well below,
  // so that lateness measures the dead provider, not an overloaded machine.
  long: { healthyJobs: 150, faultJobs: 16, phaseS: 60 },
  paramHelp: {
    healthyJobs: "jobs on the healthy provider, each firing every second (keep fires/s well below the daemon's capacity)",
    faultJobs: `jobs per faulty provider (every ${FAULT_INTERVAL_S} s; the dead one gets ${DEAD_JOBS_PER_FAULT_JOB}× as many, at most ${DEAD_JOBS_MAX}, every ${DEAD_INTERVAL_S} s)`,
    phaseS: 'seconds per phase: without, then with the dead provider',
  },
  run: runScenario,
};
