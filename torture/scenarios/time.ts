/**
 * Time (issue #5 item 4): the daemon suspended and its wall clock jumping.
 *
 * (a) Suspend: jobs every 1–2 s (half `--misfire skip`); the daemon process is stopped with
 *     SIGSTOP for longer than several intervals, then continued, `suspends` times.
 * (b) Wall-clock jumps: a second daemon runs under libfaketime (Debian's `faketime`
 *     package) with a relative offset read from a file on every clock call
 *     (FAKETIME_TIMESTAMP_FILE + FAKETIME_NO_CACHE=1); the monotonic clock stays real
 *     (FAKETIME_DONT_FAKE_MONOTONIC=1: Node's timers run on it, and a faked monotonic clock
 *     set back freezes every timer). The offset jumps forward and back by seconds and by
 *     hours. Without libfaketime this part is skipped, with the reason.
 *
 * Both parts run at once, each with its own daemon, database and recording provider, and
 * check, in the daemon's own time (provider receive time + the offset then in force):
 * - no early fire: nothing reaches the provider before its slot (and no run records a
 *   fired_at before its slot);
 * - no repeat: verify()'s request_id ↔ slot check, and re-sends are counted;
 * - coalescing: after each resume or forward jump, at most one late (catch-up) run per job,
 *   for the latest due slot; none for a `--misfire skip` job unless within the grace; the
 *   slots in between counted as missed (verify()'s accounting);
 * - nothing stuck: a run still pending at the end must be waiting for a slot that is in
 *   the daemon's future (one claimed just before the clock went back).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { daemonEnv, startDaemon, type DaemonHandle } from '../../bench/lib/daemon.ts';
import { isAlive, makeTempDir, removeTempDir, sleep, sleepUntil } from '../../bench/lib/procs.ts';
import { seedGrid } from '../../bench/lib/seed.ts';
import { resolvePaths } from '../../src/config/paths.ts';
import { startFakeProvider, type RecordedRequest } from '../../test/support/provider.ts';
import { emptyResult, notRun, type Scenario, type ScenarioParams, type ScenarioResult } from '../lib/scenario.ts';
import { archivedRuns, snapshotJobs, verify } from '../lib/verify.ts';

/** `--misfire skip` jobs still fire a slot at most this late; older ones count as missed. */
const MISFIRE_GRACE_MS = 200;
/** The scheduler's longest sleep under faketime, so a forward jump is noticed within a second. */
const MAX_TIMER_DELAY_MS = 1_000;
/** A run this late (daemon time) is a catch-up, not an on-time fire (a normal fire is a few ms late). */
const CATCH_UP_LATE_MS = 500;
/** Runs may be claimed (decided) up to 2 × fireLeadMs (20 ms) before their slot: slots that close to a stop or jump count as decided before it. */
const CLAIM_MARGIN_MS = 100;
/** Slack between deciding and starting the request, for many catch-ups decided in one pass. */
const SEND_SLACK_MS = 250;
/** How long after writing a new offset a request may still have been sent under the old one. */
const TRANSITION_MS = 200;
/** A run due this little before the daemon was told to stop may not have been sent yet. */
const STOP_SLACK_MS = 50;
/** Normal running after each disruption, before the next (≥ one slot of every job). */
const DWELL_MS = 3_500;
/** How long a SIGSTOP-ed daemon may take to show as stopped (state T) in /proc. */
const STOP_SEEN_WITHIN_MS = 2_000;

const FAKETIME_LIBS = [
  '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/faketime/libfaketime.so.1',
  '/usr/local/lib/faketime/libfaketime.so.1',
];

interface JobInfo {
  intervalMs: number;
  misfire: 'skip' | 'coalesce';
  startAtMs: number;
}

/**
 * `n` jobs, alternately every 1 s and every 2 s, spread over their interval from t0, with
 * no end; every other job of each interval `--misfire skip`.
 */
function seedMixed(dbFile: string, n: number, t0: number, callbackUrl: string): Map<string, JobInfo> {
  const jobs = new Map<string, JobInfo>();
  const ones = Math.ceil(n / 2);
  const grids = [
    { n: ones, intervalS: 1 },
    { n: n - ones, intervalS: 2 },
  ].filter((g) => g.n > 0);
  const ids: { id: string; intervalS: number }[] = [];
  for (const g of grids) {
    for (const id of seedGrid(dbFile, { n: g.n, intervalS: g.intervalS, t0Ms: t0, durationMs: 365 * 86_400_000 }, callbackUrl))
      ids.push({ id, intervalS: g.intervalS });
  }
  const db = new Database(dbFile, { fileMustExist: true });
  try {
    const set = db.prepare('UPDATE jobs SET stop_after_date_ms = NULL, misfire = ? WHERE id = ?');
    const get = db.prepare('SELECT start_at_ms FROM jobs WHERE id = ?');
    db.transaction(() => {
      ids.forEach(({ id, intervalS }, i) => {
        const misfire = i % 2 === 1 ? 'skip' : 'coalesce';
        set.run(misfire, id);
        jobs.set(id, { intervalMs: intervalS * 1000, misfire, startAtMs: (get.get(id) as { start_at_ms: number }).start_at_ms });
      });
    })();
  } finally {
    db.close();
  }
  return jobs;
}

interface RunRow {
  job_id: string;
  slot_at_ms: number;
  request_id: string;
  state: string;
  fired_at_ms: number;
}

/** Every run, those compaction moved to run_archive too (issue 17): at the long size the catch-ups of the first disruptions are compacted by the end. */
function readRuns(dbFile: string): RunRow[] {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    const whole = db.prepare('SELECT job_id, slot_at_ms, request_id, state, fired_at_ms FROM runs').all() as RunRow[];
    return [...whole, ...archivedRuns(db)];
  } finally {
    db.close();
  }
}

/** A stretch in which slots became due without the daemon seeing them: a suspend, or a forward jump. */
interface Disruption {
  label: string;
  /** Daemon time when it stopped seeing time pass, and when it could see again. */
  fromDaemonMs: number;
  toDaemonMs: number;
  /** Real time the daemon could act again, and when the next disruption began. */
  afterRealMs: number;
  untilRealMs: number;
}

interface Fire {
  jobId: string;
  slot: number;
  requestId: string;
  receivedAtMs: number;
  /** When the daemon started the request, by its own clock (runs.fired_at_ms). */
  firedAtMs: number;
}

/** Check the fires of one daemon against the clock it saw. `offsetsAt(real)`: the offsets that may have been in force. */
function checkFires(
  result: ScenarioResult,
  part: string,
  jobs: Map<string, JobInfo>,
  runs: RunRow[],
  requests: RecordedRequest[],
  offsetsAt: (realMs: number) => number[],
  disruptions: Disruption[],
  /** Daemon times at which a stop or a jump began: a slot just after one may have been claimed before it, and fires whenever its slot comes by the clock. */
  claimPoints: number[],
): void {
  const preClaimed = (slot: number) => claimPoints.some((p) => slot > p && slot <= p + CLAIM_MARGIN_MS);
  const runByRequest = new Map(runs.map((r) => [r.request_id, r]));
  const receipts = new Map<string, number>();
  const fires: Fire[] = [];
  for (const req of requests) {
    const requestId = String((req.body as { request_id?: unknown } | null)?.request_id);
    const n = receipts.get(requestId) ?? 0;
    receipts.set(requestId, n + 1);
    const run = runByRequest.get(requestId);
    if (n > 0 || !run) continue; // re-sends are counted below; unknown ids are verify()'s
    fires.push({ jobId: run.job_id, slot: run.slot_at_ms, requestId, receivedAtMs: req.receivedAtMs, firedAtMs: run.fired_at_ms });
  }
  const v: string[] = [];
  // No early fire, by the daemon's clock.
  for (const f of fires) {
    const daemonNow = f.receivedAtMs + Math.max(...offsetsAt(f.receivedAtMs));
    if (f.slot > daemonNow + 1)
      v.push(
        `early fire: job ${f.jobId.slice(0, 8)} slot ${new Date(f.slot).toISOString()} reached the provider ${f.slot - daemonNow} ms before it was due (daemon time)`,
      );
  }
  for (const r of runs) {
    if (r.state !== 'pending' && r.fired_at_ms < r.slot_at_ms)
      v.push(`early fire: run ${r.request_id.slice(0, 8)} records fired_at ${r.slot_at_ms - r.fired_at_ms} ms before its slot`);
  }
  const resent = [...receipts.values()].filter((n) => n > 1).length;
  if (resent) result.notes.push(`${part}: ${resent} runs were re-sent with their request_id (a request in flight across a stop)`);

  // Coalescing: at most one catch-up per job per disruption, for the latest due slot; none stale for misfire=skip.
  for (const d of disruptions) {
    const catchUps = new Map<string, Fire[]>();
    for (const f of fires) {
      if (f.receivedAtMs < d.afterRealMs || f.receivedAtMs >= d.untilRealMs) continue;
      if (f.slot <= d.fromDaemonMs || preClaimed(f.slot) || f.slot > d.toDaemonMs + MAX_TIMER_DELAY_MS + SEND_SLACK_MS) continue;
      const job = jobs.get(f.jobId);
      // How late the daemon sent it, by its clock: many catch-ups at once queue behind the
      // per-origin connection cap, so the provider's receive time overstates it.
      const late = f.firedAtMs - f.slot;
      // A slot due while the daemon could not see time pass can only fire as a catch-up; a
      // later one is a catch-up only if it fired late (the daemon woke after it was due).
      const dueUnseen = f.slot <= d.toDaemonMs;
      if (!dueUnseen && late <= CATCH_UP_LATE_MS) continue;
      if (job?.misfire === 'skip' && late <= MISFIRE_GRACE_MS + SEND_SLACK_MS) continue; // within the grace
      (catchUps.get(f.jobId) ?? catchUps.set(f.jobId, []).get(f.jobId)!).push(f);
    }
    let coalesced = 0;
    for (const [jobId, list] of catchUps) {
      const job = jobs.get(jobId)!;
      const lates = list.map((f) => f.firedAtMs - f.slot);
      if (job.misfire === 'skip') {
        v.push(
          `${d.label}: misfire=skip job ${jobId.slice(0, 8)} fired ${list.length} stale slot(s), ${Math.max(...lates)} ms late (grace ${MISFIRE_GRACE_MS} ms)`,
        );
        continue;
      }
      coalesced += 1;
      if (list.length > 1)
        v.push(
          `${d.label}: job ${jobId.slice(0, 8)} fired ${list.length} catch-up runs (a burst), slots ${list.map((f) => new Date(f.slot).toISOString()).join(', ')}`,
        );
      const tooOld = lates.filter((l) => l > job.intervalMs + SEND_SLACK_MS);
      if (tooOld.length)
        v.push(`${d.label}: job ${jobId.slice(0, 8)} caught up a slot ${Math.max(...tooOld)} ms late, not the latest due one (interval ${job.intervalMs} ms)`);
    }
    const coalescing = [...jobs.values()].filter((j) => j.misfire === 'coalesce').length;
    // Every coalescing job had slots in the gap; a catch-up may be overlap-skipped, but not all of them.
    if (coalescing > 0 && coalesced === 0 && d.toDaemonMs - d.fromDaemonMs > 2_500)
      v.push(`${d.label}: no job caught up at all (rule 4: one run for the latest due slot)`);
    const why = coalesced < coalescing ? ' (for the others the next slot came first, or the catch-up was overlap-skipped)' : '';
    result.notes.push(`${part}: ${d.label}: ${coalesced} of ${coalescing} coalescing jobs caught up once${why}`);
  }
  for (const line of v.slice(0, 8)) result.violations.push(`${part}: ${line}`);
  if (v.length > 8) result.violations.push(`${part}: … and ${v.length - 8} more like these`);
}

/**
 * Runs still open after the daemon stopped. One claimed ahead of its slot (≤ 2 × fireLeadMs)
 * whose slot had not come by the daemon's clock when it was told to stop is not stuck: it
 * waits for its slot (and the next start resumes it). Any other is stuck: verify() counted
 * it, and this says which and why.
 */
function judgeOpenRuns(result: ScenarioResult, part: string, runs: RunRow[], daemonStopMs: number, causeOf: (slotMs: number) => string | null): void {
  const open = runs.filter((r) => r.state === 'pending' || r.state === 'active');
  const waiting = open.filter((r) => r.state === 'pending' && r.slot_at_ms > daemonStopMs - STOP_SLACK_MS);
  result.stuckRuns -= waiting.length;
  if (waiting.length)
    result.notes.push(`${part}: ${waiting.length} runs claimed ahead of their slot were still waiting for it (in the daemon's future) when it stopped`);
  for (const r of open.filter((x) => !waiting.includes(x))) {
    const cause = causeOf(r.slot_at_ms);
    result.violations.push(
      `${part}: run ${r.request_id.slice(0, 8)} (slot ${new Date(r.slot_at_ms).toISOString()}) still ${r.state} at the end, though its slot passed ${daemonStopMs - r.slot_at_ms} ms before the daemon stopped, by its clock${cause ? ` (${cause})` : ''}`,
    );
  }
}

function merge(into: ScenarioResult, part: ScenarioResult): void {
  into.runsFired += part.runsFired;
  into.slotsChecked += part.slotsChecked;
  into.duplicates += part.duplicates;
  into.missedUncounted += part.missedUncounted;
  into.stuckRuns += part.stuckRuns;
  if (part.integrity !== 'ok') into.integrity = into.integrity === 'ok' ? part.integrity : `${into.integrity}; ${part.integrity}`;
  into.violations.push(...part.violations);
  into.notes.push(...part.notes);
  into.skipped.push(...part.skipped);
  into.ran ||= part.ran;
}

function processState(pid: number | undefined): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? null;
  } catch {
    return null;
  }
}

/** (a) SIGSTOP / SIGCONT the daemon. */
async function suspendPart(params: ScenarioParams, log: (line: string) => void): Promise<ScenarioResult> {
  const jobCount = Math.max(2, Math.round(params.jobs ?? 12));
  const suspends = Math.max(1, Math.round(params.suspends ?? 2));
  const suspendMs = Math.max(2.5, params.suspendS ?? 4) * 1000;
  const home = makeTempDir('gtt-ts-');
  const ap = await startFakeProvider();
  let daemon: DaemonHandle | undefined;
  try {
    const knobs = { GLOBUS_TIMER_MISFIRE_GRACE_MS: String(MISFIRE_GRACE_MS) };
    const { dbFile } = resolvePaths(daemonEnv(home, knobs));
    const t0 = Date.now() + 3_000;
    const jobs = seedMixed(dbFile, jobCount, t0, ap.runUrl);
    const before = snapshotJobs(dbFile);
    daemon = await startDaemon(home, { env: knobs });
    await sleepUntil(t0 + 2_500);
    const disruptions: Disruption[] = [];
    for (let i = 0; i < suspends; i++) {
      const stopAt = Date.now();
      daemon.proc.kill('SIGSTOP');
      // Stopped once /proc says so (at once, unless the machine is very busy); not stopped after
      // STOP_SEEN_WITHIN_MS means it cannot be done here, not that it was slow.
      let state = processState(daemon.pid);
      for (const until = Date.now() + STOP_SEEN_WITHIN_MS; state !== 'T' && Date.now() < until; state = processState(daemon.pid)) await sleep(10);
      if (state !== 'T') {
        daemon.proc.kill('SIGCONT');
        return notRun('time', `suspend: SIGSTOP did not stop the daemon here (process state ${state ?? 'unknown'} after ${STOP_SEEN_WITHIN_MS} ms)`);
      }
      await sleep(suspendMs - (Date.now() - stopAt));
      daemon.proc.kill('SIGCONT');
      const contAt = Date.now();
      log(`suspend ${i + 1}/${suspends}: daemon stopped ${contAt - stopAt} ms`);
      disruptions.push({
        label: `suspend ${i + 1} (${((contAt - stopAt) / 1000).toFixed(1)} s)`,
        fromDaemonMs: stopAt,
        toDaemonMs: contAt,
        afterRealMs: contAt,
        untilRealMs: Infinity,
      });
      if (i > 0) disruptions[i - 1]!.untilRealMs = stopAt;
      await sleep(DWELL_MS);
    }
    const stopRealMs = Date.now();
    const stopped = await daemon.stop();
    const result = verify('time', dbFile, ap.runRequests(), before);
    if (stopped !== 0) result.violations.push(`suspend: the daemon exited with ${stopped} on SIGTERM, not 0`);
    const runs = readRuns(dbFile);
    checkFires(
      result,
      'suspend',
      jobs,
      runs,
      ap.runRequests(),
      () => [0],
      disruptions,
      disruptions.map((d) => d.fromDaemonMs),
    );
    judgeOpenRuns(result, 'suspend', runs, stopRealMs, () => null);
    return result;
  } finally {
    if (daemon && isAlive(daemon.proc)) daemon.proc.kill('SIGCONT');
    if (daemon) await daemon.stop();
    await ap.close();
    removeTempDir(home);
  }
}

/** libfaketime's preload library, or why it cannot be used. */
function findFaketime(): { lib: string } | { missing: string } {
  let lib = FAKETIME_LIBS.find((p) => fs.existsSync(p));
  if (!lib) {
    try {
      lib = execFileSync('dpkg', ['-L', 'libfaketime'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
        .split('\n')
        .find((l) => l.endsWith('/libfaketime.so.1'));
    } catch {
      // no dpkg, or not installed
    }
  }
  if (!lib) return { missing: 'libfaketime not installed (wall-clock jumps need it): apt-get install faketime' };
  return { lib };
}

/** Whether node really sees the offset from the file under the preload. */
function probeFaketime(env: NodeJS.ProcessEnv, offsetFile: string): string | null {
  writeOffset(offsetFile, 3_600_000);
  try {
    const realBefore = Date.now();
    const out = spawnSync(process.execPath, ['-e', 'console.log(Date.now())'], { env, encoding: 'utf8', timeout: 20_000 });
    const seen = Number(out.stdout.trim());
    const offset = seen - realBefore;
    if (out.status !== 0 || !Number.isFinite(seen))
      return `node did not run under libfaketime (exit ${out.status ?? out.signal}): ${out.stderr.trim().slice(0, 200)}`;
    if (Math.abs(offset - 3_600_000) > 10_000) return `libfaketime preloaded but node's clock was off by ${offset} ms, not +1 h`;
    return null;
  } finally {
    writeOffset(offsetFile, 0);
  }
}

/** libfaketime's relative offset ("+Ns"/"-Ns"), swapped in atomically (it re-reads the file on each clock call). */
function writeOffset(file: string, offsetMs: number): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, `${offsetMs < 0 ? '-' : '+'}${Math.abs(offsetMs) / 1000}s\n`);
  fs.renameSync(tmp, file);
}

interface Jump {
  label: string;
  fromMs: number;
  toMs: number;
  /** Real time just before / after the offset file was swapped. */
  beforeRealMs: number;
  afterRealMs: number;
}

/** The offsets: forward by seconds, back by seconds, forward by hours, back by an hour; forward always past the highest time seen. */
function plannedOffsets(jumps: number): { label: string; toMs: number }[] {
  const out: { label: string; toMs: number }[] = [];
  let offset = 0;
  let high = 0;
  for (let i = 0; i < jumps; i++) {
    const kind = i % 4;
    const to =
      kind === 0 ? Math.max(offset, high) + 5_000 : kind === 1 ? offset - 3_000 : kind === 2 ? Math.max(offset, high) + 2 * 3_600_000 : offset - 3_600_000;
    const delta = to - offset;
    const hours = Math.floor(Math.abs(delta) / 3_600_000);
    const seconds = (Math.abs(delta) % 3_600_000) / 1000;
    const size = [hours ? `${hours} h` : '', seconds || !hours ? `${seconds} s` : ''].filter(Boolean).join(' ');
    out.push({ label: `jump ${i + 1} ${delta > 0 ? 'forward' : 'back'} ${size}`, toMs: to });
    offset = to;
    high = Math.max(high, to);
  }
  return out;
}

/** (b) Wall-clock jumps under libfaketime. */
async function jumpPart(params: ScenarioParams, log: (line: string) => void): Promise<ScenarioResult> {
  const found = findFaketime();
  if ('missing' in found) return notRun('time', `wall-clock jumps: ${found.missing}`);
  const jobCount = Math.max(2, Math.round(params.jobs ?? 12));
  const jumps = Math.max(1, Math.round(params.jumps ?? 4));
  const home = makeTempDir('gtt-tj-');
  const ap = await startFakeProvider();
  let daemon: DaemonHandle | undefined;
  try {
    const offsetFile = path.join(home, 'faketime.offset');
    const knobs: NodeJS.ProcessEnv = {
      GLOBUS_TIMER_MISFIRE_GRACE_MS: String(MISFIRE_GRACE_MS),
      GLOBUS_TIMER_MAX_TIMER_DELAY_MS: String(MAX_TIMER_DELAY_MS),
      LD_PRELOAD: [found.lib, process.env.LD_PRELOAD].filter(Boolean).join(':'),
      FAKETIME_TIMESTAMP_FILE: offsetFile,
      FAKETIME_NO_CACHE: '1',
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
      FAKETIME: undefined,
    };
    const probe = probeFaketime({ ...process.env, ...knobs, FAKETIME: undefined }, offsetFile);
    if (probe) return notRun('time', `wall-clock jumps: ${probe}`);
    const { dbFile } = resolvePaths(daemonEnv(home, knobs));
    const t0 = Date.now() + 3_000;
    const jobs = seedMixed(dbFile, jobCount, t0, ap.runUrl);
    const before = snapshotJobs(dbFile);
    daemon = await startDaemon(home, { env: knobs });
    await sleepUntil(t0 + 2_500);

    const done: Jump[] = [];
    let offset = 0;
    for (const planned of plannedOffsets(jumps)) {
      let target = Date.now();
      if (planned.toMs < offset) {
        // Go back just after some run was claimed and just before its slot: the run must wait
        // for its slot by the new clock, and still fire once the clock has come forward again.
        const daemonNow = Date.now() + offset + 300;
        let next = Infinity;
        for (const j of jobs.values()) next = Math.min(next, j.startAtMs + Math.ceil((daemonNow - j.startAtMs) / j.intervalMs) * j.intervalMs);
        target = next - offset - 8;
        await sleepUntil(target);
      }
      const beforeRealMs = Date.now();
      writeOffset(offsetFile, planned.toMs);
      const afterRealMs = Date.now();
      done.push({ label: planned.label, fromMs: offset, toMs: planned.toMs, beforeRealMs, afterRealMs });
      log(`${planned.label}: daemon clock now real ${planned.toMs >= 0 ? '+' : '−'} ${Math.abs(planned.toMs) / 1000} s`);
      offset = planned.toMs;
      await sleep(DWELL_MS);
    }
    const stopRealMs = Date.now();
    const stopped = await daemon.stop();

    const offsetsAt = (realMs: number): number[] => {
      let current = [0];
      for (const j of done) {
        if (realMs < j.beforeRealMs) break;
        current = realMs <= j.afterRealMs + TRANSITION_MS ? [j.fromMs, j.toMs] : [j.toMs];
      }
      return current;
    };
    const disruptions: Disruption[] = done.flatMap((j, i) =>
      j.toMs > j.fromMs
        ? [
            {
              label: j.label,
              fromDaemonMs: j.beforeRealMs + j.fromMs,
              toDaemonMs: j.afterRealMs + j.toMs,
              afterRealMs: j.beforeRealMs,
              untilRealMs: done[i + 1]?.beforeRealMs ?? Infinity,
            },
          ]
        : [],
    );
    const result = verify('time', dbFile, ap.runRequests(), before);
    if (stopped !== 0) result.violations.push(`jumps: the daemon exited with ${stopped} on SIGTERM, not 0`);
    const runs = readRuns(dbFile);
    checkFires(
      result,
      'jumps',
      jobs,
      runs,
      ap.runRequests(),
      offsetsAt,
      disruptions,
      done.map((j) => j.beforeRealMs + j.fromMs),
    );

    judgeOpenRuns(result, 'jumps', runs, stopRealMs + offset, (slotMs) => {
      const jump = done.find((j) => j.toMs < j.fromMs && slotMs > j.beforeRealMs + j.fromMs && slotMs - (j.beforeRealMs + j.fromMs) <= CLAIM_MARGIN_MS);
      return jump
        ? `claimed just before "${jump.label}"; the clock has come forward since, but the run still sleeps out the jump, and its job's slots are overlap-skipped meanwhile`
        : null;
    });
    result.notes.push(
      `jumps: libfaketime ${found.lib} (FAKETIME_TIMESTAMP_FILE, FAKETIME_NO_CACHE=1, FAKETIME_DONT_FAKE_MONOTONIC=1), max timer delay ${MAX_TIMER_DELAY_MS} ms`,
    );
    return result;
  } finally {
    if (daemon) await daemon.stop();
    await ap.close();
    removeTempDir(home);
  }
}

async function runScenario(params: ScenarioParams, log: (line: string) => void): Promise<ScenarioResult> {
  // Two daemons at once: the suspends and the jumps do not depend on each other.
  const parts = await Promise.allSettled([suspendPart(params, (l) => log(`suspend: ${l}`)), jumpPart(params, (l) => log(`jumps: ${l}`))]);
  const failed = parts.find((p): p is PromiseRejectedResult => p.status === 'rejected');
  if (failed) throw failed.reason;
  // Skipped as a whole only when neither part ran here.
  const result: ScenarioResult = { ...emptyResult('time'), ran: false };
  for (const p of parts) if (p.status === 'fulfilled') merge(result, p.value);
  return result;
}

export const timeJumps: Scenario = {
  name: 'time',
  describe: 'daemon suspended (SIGSTOP/SIGCONT) and wall clock jumping (libfaketime): no early fire, no repeat, at most one catch-up per job',
  fast: { jobs: 12, suspends: 2, suspendS: 4, jumps: 5 },
  long: { jobs: 200, suspends: 10, suspendS: 15, jumps: 13 },
  paramHelp: {
    jobs: 'jobs per daemon, every 1 or 2 s, half of them --misfire skip',
    suspends: 'SIGSTOP/SIGCONT cycles',
    suspendS: 'seconds each suspend lasts',
    jumps: 'wall-clock jumps (forward s, back s, forward h, back h, …) under libfaketime',
  },
  run: runScenario,
};
