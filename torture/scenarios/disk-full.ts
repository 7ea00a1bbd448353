/**
 * Disk full (issue #5 item 5). GLOBUS_TIMER_HOME (database, WAL, socket, pid file) lives on
 * a small tmpfs (needs root to mount; skipped with the reason otherwise). Jobs fire every
 * second at a recording loopback provider whose status documents are a few KB, so every run
 * writes to the database. Once they run, a filler file takes every free byte of the
 * filesystem for `fullS` seconds; then it is removed.
 *
 * While full: the daemon stays up, says what is wrong in its log (which goes to another
 * filesystem, as a journal or terminal would), and still answers RPC reads. Afterwards it
 * carries on by itself: new runs fire, are recorded and complete, nothing is left open. At
 * the end (every job deleted so nothing is in flight, then SIGTERM) verify(): no slot fired
 * twice, every slot fired or counted, no run stuck, integrity ok, no job lost or changed.
 * Measured and printed: error lines logged and CPU used while full, runs fired meanwhile.
 */
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startDaemon, type DaemonHandle } from '../../bench/lib/daemon.ts';
import { isAlive, makeTempDir, removeTempDir, sleep } from '../../bench/lib/procs.ts';
import { resolveConfig } from '../../src/config/config.ts';
import { resolvePaths, type AppPaths } from '../../src/config/paths.ts';
import { openDb } from '../../src/daemon/store/open.ts';
import { JobService } from '../../src/daemon/jobs/job-service.ts';
import type { JobDocument, JobPage } from '../../src/contract/protocol.ts';
import { systemClock } from '../../src/core/clock.ts';
import { startFakeProvider, type FakeProvider, type RecordedRequest } from '../../test/support/provider.ts';
import { emptyResult, notRun, type Scenario, type ScenarioParams, type ScenarioResult } from '../lib/scenario.ts';
import { snapshotJobs, verify, type JobDefinition } from '../lib/verify.ts';
import { waitFor } from '../lib/util.ts';

const NAME = 'disk-full';
/**
 * The tmpfs is mounted large (START_SIZE_MB), the daemon's store is measured as it grows
 * for GROWTH_SAMPLE_MS, then the tmpfs is shrunk (`mount -o remount,size=`) to what is used
 * plus HEADROOM_S seconds of that growth: the filler, not the daemon, must be what fills it
 * (issue 17: a fixed size of 8 MiB + jobs/4 was once full of the store before the filler
 * started), and filling it stays quick. The growth of the rest of the episode (the full
 * spell is written to nothing; the recovery is HEADROOM_S at most) fits the headroom.
 */
export const START_SIZE_MB = 1024;
/**
 * The store grows in bursts (the WAL: it restarts only when a checkpoint has caught up with
 * the writes, which under steady load is seldom), so it is sampled every GROWTH_STEP_MS for
 * GROWTH_SAMPLE_MS, and sized from its largest use and its fastest second.
 */
const GROWTH_SAMPLE_MS = 10_000;
const GROWTH_STEP_MS = 200;
const HEADROOM_S = 30;
/** The least room left beside the store, whatever the growth: SQLite, the WAL, a socket. */
const MIN_HEADROOM_MB = 16;
/** Less filler than this means the daemon had filled the filesystem itself before the filler started. */
const MIN_FILLER_MB = 4;
/** Padding of each status document, so every run writes a few pages. */
const DOC_PAD_BYTES = 4_000;
/**
 * Error lines per second while full above which the daemon is spinning rather than
 * retrying: a backoff of even 100 ms per failing component stays far below it.
 */
const MAX_ERRORS_PER_S = 50;

export const diskFull: Scenario = {
  name: NAME,
  describe: 'the state directory on a tmpfs that fills up while jobs fire: errors logged, no crash, nothing lost, carries on when space returns',
  fast: { jobs: 20, fullS: 5 },
  long: { jobs: 200, fullS: 60 },
  paramHelp: {
    jobs: 'jobs firing every second at a provider whose status documents are ~4 KB',
    fullS: 'seconds the filesystem stays full',
  },
  run,
};

/** Bytes in use on the filesystem at `dir` (statfs). */
export function usedBytes(dir: string): number {
  const st = fs.statfsSync(dir);
  return (st.blocks - st.bfree) * st.bsize;
}

/** Write until the filesystem refuses another byte; returns the bytes written. */
function fill(file: string): number {
  const fd = fs.openSync(file, 'w', 0o600);
  let written = 0;
  try {
    for (const chunk of [1 << 20, 64 << 10, 4 << 10, 512, 1]) {
      const buf = Buffer.alloc(chunk, 0x5a);
      for (;;) {
        try {
          written += fs.writeSync(fd, buf);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return written;
}

export interface LogEntry {
  level?: number;
  msg?: string;
  time?: string;
  err?: { message?: string; code?: string };
  /** The checkpointer logs its worker's error as a string. */
  error?: string | { message?: string };
  failedForMs?: number;
  failingForMs?: number;
}

export function logEntries(file: string): LogEntry[] {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: LogEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as LogEntry);
    } catch {
      // a torn line
    }
  }
  return out;
}

/** What is known about each run left open: its row, what the provider saw, what the daemon logged. */
function describeOpenRuns(dbFile: string, logFile: string, requests: readonly RecordedRequest[]): string[] {
  const db = new Database(dbFile, { readonly: true });
  try {
    const open = db
      .prepare(
        "SELECT id, job_id, slot_at_ms, request_id, state, attempts, action_id, action_status, fired_at_ms, error FROM runs WHERE state IN ('pending', 'active') LIMIT 5",
      )
      .all() as Record<string, unknown>[];
    const text = fs.readFileSync(logFile, 'utf8').split('\n');
    return open.map((r) => {
      const seen = requests
        .filter((q) => q.path.includes(String(r.action_id)) || (q.body as { request_id?: unknown } | null)?.request_id === r.request_id)
        .map((q) => `${q.method} …${q.path.slice(-12)} at ${new Date(q.receivedAtMs).toISOString().slice(11, 23)}`);
      const logged = text
        .filter((l) => l.includes(String(r.job_id)) && !l.includes('"slots skipped"'))
        .slice(-3)
        .map((l) => l.slice(0, 240));
      return `open run ${JSON.stringify({ ...r, slot: new Date(Number(r.slot_at_ms)).toISOString().slice(11, 23), fired: new Date(Number(r.fired_at_ms)).toISOString().slice(11, 23) })}; provider saw: ${seen.join(', ') || 'nothing'}; logged: ${logged.join(' | ') || 'nothing'}`;
    });
  } finally {
    db.close();
  }
}

/** The daemon's settings in both disk-full scenarios: quick polls and retries, so runs end within a second. */
export const DAEMON_ENV: NodeJS.ProcessEnv = {
  GLOBUS_TIMER_LOG_LEVEL: 'info',
  GLOBUS_TIMER_POLL_INITIAL_MS: '100',
  GLOBUS_TIMER_POLL_MAX_MS: '300',
  GLOBUS_TIMER_RETRY_INITIAL_MS: '100',
  GLOBUS_TIMER_RETRY_MAX_MS: '500',
};

/** A scenario's state directory on its own tmpfs, with what the scenario tears down at the end. */
export interface TmpfsHome {
  mountpoint: string;
  paths: AppPaths;
  /** The daemon's stderr (its log), on another filesystem, as journald or a terminal is. */
  logFile: string;
  ap: FakeProvider;
  /** Set by the scenario once it starts one: stopped at the end if still alive. */
  daemon: DaemonHandle | null;
}

/**
 * Run `body` with GLOBUS_TIMER_HOME on a fresh tmpfs of START_SIZE_MB (resized by the body)
 * and a recording provider whose status documents are DOC_PAD_BYTES; unmounts and cleans
 * up whatever happens. Not root, or no mount allowed: the scenario is reported not run.
 */
export async function withTmpfsHome(name: string, body: (home: TmpfsHome) => Promise<ScenarioResult>): Promise<ScenarioResult> {
  if (process.getuid?.() !== 0) return notRun(name, `disk full: mounting a small tmpfs needs root (running as uid ${process.getuid?.()})`);
  const mountpoint = makeTempDir('gtdf-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${START_SIZE_MB}m,mode=0700`, 'tmpfs', mountpoint], { stdio: 'pipe' });
  } catch (err) {
    removeTempDir(mountpoint);
    return notRun(
      name,
      `disk full: mount -t tmpfs was refused (${
        String((err as { stderr?: Buffer }).stderr ?? (err as Error).message)
          .trim()
          .split('\n')[0]
      }); a container without CAP_SYS_ADMIN cannot mount`,
    );
  }
  const outside = makeTempDir('gtdfl-');
  const ap = await startFakeProvider();
  ap.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 1, final: 'SUCCEEDED', document: { details: { pad: 'p'.repeat(DOC_PAD_BYTES) } } };
  const logFile = path.join(outside, 'daemon.log');
  fs.writeFileSync(logFile, '');
  fs.symlinkSync(logFile, path.join(mountpoint, 'daemon.stderr.log'));
  const home: TmpfsHome = { mountpoint, paths: resolvePaths({ GLOBUS_TIMER_HOME: mountpoint }), logFile, ap, daemon: null };
  let final = emptyResult(name);
  try {
    final = await body(home);
  } catch (err) {
    final.violations.push(`scenario aborted: ${(err as Error).stack ?? String(err)}`);
  } finally {
    if (home.daemon && isAlive(home.daemon.proc)) await home.daemon.stop();
    // The log goes with the temporary directory: on a broken guarantee, its end is the clue.
    if (final.violations.length > 0) final.notes.push(`the daemon's last log lines:\n${lastLines(logFile, 25)}`);
    await ap.close();
    try {
      execFileSync('umount', [mountpoint], { stdio: 'pipe' });
    } catch {
      try {
        execFileSync('umount', ['-l', mountpoint], { stdio: 'pipe' });
      } catch {
        // left mounted: removeTempDir fails below and says so
      }
    }
    try {
      removeTempDir(mountpoint);
    } catch (err) {
      final.notes.push(`could not remove ${mountpoint}: ${(err as Error).message}`);
    }
    removeTempDir(outside);
  }
  return final;
}

/** Submit `nJobs` jobs firing every second at the provider, their slots spread over the second; returns their ids. */
export function submitJobs(home: TmpfsHome, nJobs: number, namePrefix: string): string[] {
  const ids: string[] = [];
  const db = openDb(home.paths.dbFile);
  try {
    const service = new JobService({ db, clock: systemClock, config: resolveConfig({}), onScheduleChange: () => {} });
    const t0 = Date.now() + 1_500;
    for (let i = 0; i < nJobs; i++) {
      ids.push(
        service.submit({
          name: `${namePrefix}-${i}`,
          start: new Date(t0 + Math.floor((i * 1000) / nJobs)).toISOString(),
          interval_seconds: 1,
          callback_url: home.ap.runUrl,
          callback_body: { body: { job: i } },
          scope: null,
        }).job_id,
      );
    }
  } finally {
    db.$client.close();
  }
  return ids;
}

/**
 * The store's growth, sampled every GROWTH_STEP_MS for `sampleMs`: the most used, the
 * fastest second, and the average over the whole sample (bytes per second).
 */
export async function measureGrowth(dir: string, sampleMs = GROWTH_SAMPLE_MS): Promise<{ peakBytes: number; fastestPerS: number; averagePerS: number }> {
  const samples: number[] = [];
  for (let t = 0; t <= sampleMs; t += GROWTH_STEP_MS) {
    samples.push(usedBytes(dir));
    await sleep(GROWTH_STEP_MS);
  }
  const perSecond = 1000 / GROWTH_STEP_MS;
  return {
    peakBytes: Math.max(...samples),
    fastestPerS: Math.max(0, ...samples.slice(perSecond).map((used, i) => used - samples[i]!)),
    averagePerS: Math.max(0, (samples[samples.length - 1]! - samples[0]!) / (sampleMs / 1000)),
  };
}

/** Resize the tmpfs (tmpfs refuses a size below what is in use). */
export function resizeTmpfs(mountpoint: string, sizeMb: number): void {
  execFileSync('mount', ['-o', `remount,size=${sizeMb}m`, mountpoint], { stdio: 'pipe' });
}

/** Whether the daemon answers a read (job.list) on its socket. */
export async function readAnswered(d: DaemonHandle): Promise<boolean> {
  try {
    const client = await d.connect();
    try {
      await client.call('job.list', { limit: 5 });
      return true;
    } finally {
      client.close();
    }
  } catch {
    return false;
  }
}

/** The five kinds of log line seen most among `entries`, one note each ("logged 3×: level 50 …"). */
export function logKinds(entries: LogEntry[]): string[] {
  const kinds = new Map<string, number>();
  for (const e of entries) {
    const key = `level ${e.level} ${e.msg}: ${e.err?.message ?? (typeof e.error === 'string' ? e.error : e.error?.message) ?? ''}`.slice(0, 160);
    kinds.set(key, (kinds.get(key) ?? 0) + 1);
  }
  return [...kinds]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(([k, n]) => `  logged ${n}×: ${k}`);
}

/** Waits until every job has a run that fired after `sinceMs` and is recorded as succeeded (job.get); returns the job documents. */
export function freshRunsOfEveryJob(d: DaemonHandle, ids: string[], sinceMs: number, timeoutMs: number): Promise<JobDocument[]> {
  return waitFor(
    `a run of every job fired after ${new Date(sinceMs).toISOString().slice(11, 23)} to be recorded as succeeded`,
    async () => {
      const client = await d.connect();
      try {
        const docs = await Promise.all(ids.map((id) => client.call('job.get', { job_id: id })));
        const fresh = docs.filter((doc) => doc.results.data.some((r) => Date.parse(r.ran_at) > sinceMs && r.run_state === 'succeeded'));
        return fresh.length === docs.length && docs;
      } finally {
        client.close();
      }
    },
    timeoutMs,
    250,
  );
}

/**
 * The end of a scenario: delete every job (a status change only), let runs in flight end,
 * check that job.list still shows every job, stop the daemon (violations go to `result`);
 * then verify() the store against the provider, with what the scenario found merged in.
 */
export async function settleAndVerify(
  home: TmpfsHome,
  d: DaemonHandle,
  ids: string[],
  before: Map<string, JobDefinition>,
  result: ScenarioResult,
): Promise<ScenarioResult> {
  if (isAlive(d.proc)) {
    const client = await d.connect();
    try {
      for (const id of ids) await client.call('job.delete', { job_id: id });
      try {
        await waitFor('no run in flight', async () => (await client.call('daemon.status', {})).runs_in_flight === 0, 20_000, 200);
      } catch (err) {
        result.notes.push(`${(err as Error).message} (runs left open are counted as stuck below)`);
      }
      let cursor: string | null = null;
      let n = 0;
      do {
        const page: JobPage = await client.call('job.list', { limit: 1000, cursor, show_deleted: true });
        n += page.jobs.length;
        cursor = page.next_cursor;
      } while (cursor);
      if (n !== before.size) result.violations.push(`job.list shows ${n} jobs, ${before.size} were submitted`);
    } finally {
      client.close();
    }
    const code = await d.stop();
    if (code !== 0) result.violations.push(`the daemon exited with ${code} on SIGTERM`);
    const lingered = fs.readFileSync(home.logFile, 'utf8').match(/^.*its process did not end.*$/m);
    if (lingered) result.violations.push(`the daemon's process did not end by itself once stopped (the provider at ${home.ap.baseUrl}): ${lingered[0]}`);
  }
  const verified = verify(result.scenario, home.paths.dbFile, home.ap.runRequests(), before);
  if (verified.stuckRuns > 0) verified.notes.push(...describeOpenRuns(home.paths.dbFile, home.logFile, home.ap.requests));
  return {
    ...verified,
    violations: [...result.violations, ...verified.violations],
    notes: [...result.notes, ...verified.notes],
    skipped: [...result.skipped, ...verified.skipped],
  };
}

async function run(params: ScenarioParams, log: (line: string) => void): Promise<ScenarioResult> {
  const nJobs = Math.max(1, Math.round(params.jobs ?? 20));
  const fullMs = Math.max(1, params.fullS ?? 5) * 1000;
  return withTmpfsHome(NAME, async (home) => {
    const result = emptyResult(NAME);
    const { mountpoint, logFile, ap } = home;
    const filler = path.join(mountpoint, 'filler');
    const ids = submitJobs(home, nJobs, 'full');
    const before = snapshotJobs(home.paths.dbFile);
    const d = await startDaemon(mountpoint, { env: DAEMON_ENV });
    home.daemon = d;
    await waitFor('two runs of every job', () => ap.runRequests().length >= 2 * nJobs, 30_000);
    // Measure the store's growth, then leave it HEADROOM_S seconds of its fastest.
    const growth = await measureGrowth(mountpoint);
    const growthPerS = growth.fastestPerS;
    const used1 = growth.peakBytes;
    const sizeMb = Math.ceil((used1 + Math.max(MIN_HEADROOM_MB << 20, growthPerS * HEADROOM_S)) / 1048576);
    resizeTmpfs(mountpoint, sizeMb);
    result.notes.push(
      `the store grew up to ${(growthPerS / 1024).toFixed(0)} KiB in a second (up to ${(used1 / 1048576).toFixed(1)} MiB used over ${GROWTH_SAMPLE_MS / 1000} s); tmpfs sized to ${sizeMb} MiB (${HEADROOM_S} s of that growth, at least ${MIN_HEADROOM_MB} MiB of room)`,
    );
    log(`daemon up on a ${sizeMb} MiB tmpfs (the store grows ${(growthPerS / 1024).toFixed(0)} KiB/s), ${nJobs} jobs firing`);
    // The daemon's CPU in normal operation, to compare with its CPU while the disk is full.
    const cpuBase0 = d.stats()?.cpuS ?? 0;
    await sleep(2_000);
    const cpuBase = ((d.stats()?.cpuS ?? 0) - cpuBase0) / 2;

    // Fill it.
    const logLinesBefore = logEntries(logFile).length;
    const cpuBefore = d.stats()?.cpuS ?? 0;
    const fullAtMs = Date.now();
    const bytes = fill(filler);
    const runsAtFull = ap.runRequests().length;
    log(`filesystem full: ${(bytes / 1048576).toFixed(1)} MiB of filler`);
    result.notes.push(`filler: ${(bytes / 1048576).toFixed(1)} MiB`);
    if (bytes < MIN_FILLER_MB << 20) {
      result.violations.push(`only ${(bytes / 1048576).toFixed(1)} MiB of filler fitted: the daemon's own files had filled the filesystem first`);
    }
    let rpcFailures = 0;
    let rpcTries = 0;
    while (Date.now() - fullAtMs < fullMs) {
      if (!isAlive(d.proc)) break;
      rpcTries += 1;
      if (!(await readAnswered(d))) rpcFailures += 1;
      await sleep(500);
    }
    const cpuFull = (d.stats()?.cpuS ?? 0) - cpuBefore;
    const runsWhileFull = ap.runRequests().length - runsAtFull;
    const fullEntries = logEntries(logFile).slice(logLinesBefore);
    const errorsWhileFull = fullEntries.filter((e) => (e.level ?? 0) >= 50);
    const fullMentions = fullEntries.filter((e) => /full|ENOSPC|SQLITE_FULL/i.test(JSON.stringify(e)));
    fs.rmSync(filler);
    const freedAtMs = Date.now();
    log(`filler removed after ${((freedAtMs - fullAtMs) / 1000).toFixed(1)} s`);
    result.notes.push(
      `the filesystem was full from ${new Date(fullAtMs).toISOString().slice(11, 23)} to ${new Date(freedAtMs).toISOString().slice(11, 23)} UTC`,
    );

    if (!isAlive(d.proc)) {
      result.violations.push(`the daemon exited while the disk was full (${d.proc.exitCode ?? d.proc.signalCode})`);
    } else {
      if (rpcFailures) result.violations.push(`${rpcFailures} of ${rpcTries} job.list calls failed while the disk was full (reads need no space)`);
      if (fullMentions.length === 0) {
        result.violations.push(
          `nothing in the daemon log says the disk is full (${fullEntries.length} lines logged while full, ${runsWhileFull} runs fired meanwhile)`,
        );
      }
      // Reporting is good; reporting in a tight loop is not (the log often lives on the
      // full disk too, and a spinning daemon burns a core for as long as the disk is full).
      const fullS = (freedAtMs - fullAtMs) / 1000;
      const errorsPerS = errorsWhileFull.length / fullS;
      if (errorsPerS > MAX_ERRORS_PER_S) {
        result.violations.push(
          `while the disk was full the daemon logged ${errorsWhileFull.length} error lines in ${fullS.toFixed(1)} s (${errorsPerS.toFixed(0)}/s) and used ${((cpuFull / fullS) * 100).toFixed(0)}% of a core ` +
            `(${(cpuBase * 100).toFixed(0)}% before): it retries in a tight loop instead of backing off`,
        );
      }
      result.notes.push(
        `while full (${fullS.toFixed(1)} s): ${fullEntries.length} log lines, ${errorsWhileFull.length} at error level, ` +
          `${fullMentions.length} naming the full disk; daemon CPU ${((cpuFull / fullS) * 100).toFixed(0)}% of a core (${(cpuBase * 100).toFixed(0)}% before); ${runsWhileFull} runs reached the provider`,
      );
      result.notes.push(...logKinds(fullEntries));

      // Space is back: new runs fire, complete and are recorded, without a restart.
      let recovered: JobDocument[] = [];
      try {
        recovered = await freshRunsOfEveryJob(d, ids, freedAtMs + 500, 15_000);
        result.notes.push(`every job had a new succeeded run ${((Date.now() - freedAtMs) / 1000).toFixed(1)} s after the space came back`);
      } catch (err) {
        result.violations.push(`after the space came back: ${(err as Error).message}`);
      }
      for (const doc of recovered) {
        if (doc.status !== 'loaded')
          result.violations.push(`job ${doc.job_id} is ${doc.status} after the disk-full episode (${JSON.stringify(doc.inactive_reason)})`);
      }
    }
    return settleAndVerify(home, d, ids, before, result);
  });
}

/** The last `n` lines of a file (empty if it cannot be read). */
function lastLines(file: string, n: number): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}
