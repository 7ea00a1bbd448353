/**
 * The daemon's own store fills the disk (issue 17 item 3). As in disk-full.ts, GLOBUS_TIMER_HOME
 * lives on a tmpfs and jobs fire every second at a provider whose status documents are ~4 KB;
 * but the daemon keeps every run whole (GLOBUS_TIMER_FULL_RUNS_PER_JOB far above what runs),
 * so the store grows steadily, and the tmpfs is shrunk to what is used plus `fillS` seconds
 * of that growth: the store itself fills it. No filler, and the scenario gives no space back.
 *
 * The daemon must recover on its own: commits fail, it frees what is its own (a TRUNCATE of
 * the WAL, every job compacted down to its newest run, retention), and "recording runs works
 * again" follows within MAX_SPELL_S. Since it keeps every run whole again after that, the
 * store may fill up again: spells may repeat, every one must end. While a spell lasts: the
 * daemon stays up, answers reads, refuses `job submit` with one line saying why (the CLI, as a
 * user sees it), logs each failing component about once a minute. After: a submit is
 * accepted, every job has new runs recorded. At the end, the space the scenario took away is
 * given back (only so that the settling writes cannot fail), every job is deleted, the
 * daemon stopped, and verify() checks the store against what the provider saw.
 */
import { sleep, isAlive } from '../../bench/lib/procs.ts';
import { startDaemon, type DaemonHandle } from '../../bench/lib/daemon.ts';
import type { JobDefinition } from '../lib/verify.ts';
import { snapshotJobs } from '../lib/verify.ts';
import { emptyResult, type Scenario, type ScenarioParams, type ScenarioResult } from '../lib/scenario.ts';
import { waitFor } from '../lib/util.ts';
import { runCliProcess, type CliResult } from '../../test/support/env.ts';
import {
  DAEMON_ENV,
  START_SIZE_MB,
  freshRunsOfEveryJob,
  logEntries,
  logKinds,
  measureGrowth,
  readAnswered,
  resizeTmpfs,
  settleAndVerify,
  submitJobs,
  type TmpfsHome,
  usedBytes,
  withTmpfsHome,
} from './disk-full.ts';

const NAME = 'disk-self-full';
/** Far above any run count here: every run keeps its document until commits fail. */
const KEEP_EVERY_RUN = 1_000_000;
/**
 * The longest a spell of failing commits may last. What ends one: the WAL truncate (at
 * once), then the emergency compaction (a pass a second, each job down to its newest run,
 * a few ms of work between fires) and the write-behind's retry a second later; a few passes
 * free far more than the runs of a second need. 30 s leaves room for a loaded machine, and
 * is still far below the minute after which error lines would repeat.
 */
const MAX_SPELL_S = 30;
/** How long the store may take to fill the tmpfs beyond `fillS`: the growth is measured in bursts (the WAL). */
const FILL_GRACE_S = 60;
/** Error lines a minute while failing: one per component that writes (run bookkeeping, scheduler, compaction, retention, events), and one to spare. */
const ERROR_LINES_PER_MINUTE = 6;
/** The growth is sampled this long (the runs of a second all look alike: a few seconds give the rate). */
const GROWTH_SAMPLE_MS = 5_000;
const STATUS_EVERY_MS = 100;
const SHRINK_EVERY_MS = 1_000;
/** The least room left beside what is used at a shrink: it fills within a second or two at the fast size. */
const SHRINK_MIN_ROOM_MB = 1;
const READ_EVERY_MS = 500;
const FAILED_LINE = /^globus-timer: the daemon cannot write its database now .*free space.*try again/;

export const diskSelfFull: Scenario = {
  name: NAME,
  describe: "the daemon's own store fills its tmpfs (every run kept whole): it frees its own space and records runs again by itself",
  fast: { jobs: 20, fillS: 4, watchS: 0 },
  long: { jobs: 200, fillS: 15, watchS: 60 },
  paramHelp: {
    jobs: 'jobs firing every second at a provider whose status documents are ~4 KB',
    fillS: 'seconds of measured growth the tmpfs is left beyond what is used: how soon the store fills it',
    watchS: 'seconds watched after the first recovery, for more spells (the store keeps every run whole again, so it may fill again)',
  },
  run,
};

/** A spell of failing commits as the daemon's status and log told it. */
/** A spell at least this long must see the submit sent in it refused (shorter ones may end before a CLI process answers). */
const PROBE_SPELL_MIN_S = 2;

interface Spell {
  fromMs: number;
  /** When daemon.status first said writes work again; null while it lasts. */
  toMs: number | null;
  readsTried: number;
  readsFailed: number;
}

/** What the watch saw, polling daemon.status. */
interface Watch {
  spells: Spell[];
  storePeakBytes: number;
  walPeakBytes: number;
  statusFailures: number;
}

async function storeStatus(d: DaemonHandle): Promise<{ failing: boolean; dbBytes: number; walBytes: number } | null> {
  try {
    const client = await d.connect();
    try {
      const { store } = await client.call('daemon.status', {});
      return { failing: store.writes_failing, dbBytes: store.db_bytes ?? 0, walBytes: store.wal_bytes ?? 0 };
    } finally {
      client.close();
    }
  } catch {
    return null;
  }
}

/**
 * Poll daemon.status until `until()` says stop, noting every spell of failing commits, and
 * reading (job.list) every READ_EVERY_MS while one lasts; `onSpell` is called as one starts.
 */
async function watch(d: DaemonHandle, w: Watch, until: () => boolean, onSpell: (spell: Spell) => void): Promise<void> {
  let lastReadMs = 0;
  while (!until() && isAlive(d.proc)) {
    const status = await storeStatus(d);
    const nowMs = Date.now();
    if (!status) w.statusFailures += 1;
    else {
      w.storePeakBytes = Math.max(w.storePeakBytes, status.dbBytes + status.walBytes);
      w.walPeakBytes = Math.max(w.walPeakBytes, status.walBytes);
      const open = w.spells.at(-1)?.toMs === null ? w.spells.at(-1)! : null;
      if (status.failing && !open) {
        const spell: Spell = { fromMs: nowMs, toMs: null, readsTried: 0, readsFailed: 0 };
        w.spells.push(spell);
        onSpell(spell);
      } else if (!status.failing && open) open.toMs = nowMs;
      const spell = w.spells.at(-1);
      if (spell && spell.toMs === null && nowMs - lastReadMs >= READ_EVERY_MS) {
        lastReadMs = nowMs;
        spell.readsTried += 1;
        if (!(await readAnswered(d))) spell.readsFailed += 1;
      }
    }
    await sleep(STATUS_EVERY_MS);
  }
}

const isOpen = (w: Watch) => w.spells.at(-1)?.toMs === null;

async function run(params: ScenarioParams, log: (line: string) => void): Promise<ScenarioResult> {
  const nJobs = Math.max(1, Math.round(params.jobs ?? 20));
  const fillS = Math.max(1, params.fillS ?? 6);
  const watchMs = Math.max(0, params.watchS ?? 0) * 1000;
  return withTmpfsHome(NAME, async (home) => {
    const result = emptyResult(NAME);
    const { mountpoint, logFile, ap } = home;
    const ids = submitJobs(home, nJobs, 'self');
    const before = snapshotJobs(home.paths.dbFile);
    const d = await startDaemon(mountpoint, { env: { ...DAEMON_ENV, GLOBUS_TIMER_FULL_RUNS_PER_JOB: String(KEEP_EVERY_RUN) } });
    home.daemon = d;
    await waitFor('two runs of every job', () => ap.runRequests().length >= 2 * nJobs, 30_000);
    const growth = await measureGrowth(mountpoint, GROWTH_SAMPLE_MS);
    const shrunkAtMs = Date.now();
    const w: Watch = { spells: [], storePeakBytes: 0, walPeakBytes: 0, statusFailures: 0 };
    // Full once a commit failed: daemon.status may miss a spell of a few ms, the log does not (its first line is said at once).
    const full = () => w.spells.length > 0 || logEntries(logFile).some((e) => (e.level ?? 0) >= 50 && /full/i.test(JSON.stringify(e.err ?? e.error ?? '')));
    const sizes = shrinkUntilFull(mountpoint, growth.averagePerS, shrunkAtMs + fillS * 1000, full);
    result.notes.push(
      `the store grew ${(growth.averagePerS / 1024).toFixed(0)} KiB/s on average (fastest second ${(growth.fastestPerS / 1024).toFixed(0)} KiB, up to ${(growth.peakBytes / 1048576).toFixed(1)} MiB used); tmpfs shrunk to what was used plus that growth until ${fillS} s later`,
    );
    log(
      `${nJobs} jobs firing, every run kept whole; the store grows ${(growth.averagePerS / 1024).toFixed(0)} KiB/s: the tmpfs shrinks to fill within ${fillS} s`,
    );

    // A submit as each spell begins, until one was refused (a spell may end before the CLI is answered).
    const submits: { spell: Spell; cli: Promise<CliResult> }[] = [];
    let refused = 0;
    let pending = 0;
    const submitWhileFailing = (spell: Spell) => {
      if (refused > 0 || pending > 0) return;
      pending += 1;
      const cli = submitProbe(home, `probe-${submits.length}`).finally(() => (pending -= 1));
      submits.push({ spell, cli });
      void cli.then((r) => {
        if (r.code !== 0) refused += 1;
      });
    };
    // Until the first spell has ended (or the store never filled it, or a spell outlasted its bound).
    const fillBy = shrunkAtMs + (fillS + FILL_GRACE_S) * 1000;
    const overdue = () => {
      const last = w.spells.at(-1);
      return last !== undefined && last.toMs === null && Date.now() - last.fromMs > MAX_SPELL_S * 1000;
    };
    const onSpell = (spell: Spell) => {
      log(
        `spell ${w.spells.length}: commits fail (${((spell.fromMs - shrunkAtMs) / 1000).toFixed(1)} s after the shrink, ${(usedBytes(mountpoint) / 1048576).toFixed(1)} MiB used)`,
      );
      submitWhileFailing(spell);
    };
    // A spell of a few ms is over before daemon.status can tell: its end is in the log then.
    const recoveredInLog = () => logEntries(logFile).find((e) => e.msg === 'recording runs works again');
    await watch(d, w, () => (w.spells.length > 0 && !isOpen(w)) || Date.now() > fillBy || overdue() || (!isOpen(w) && recoveredInLog() !== undefined), onSpell);
    const loggedEnd = recoveredInLog();
    const first: Spell | undefined =
      w.spells[0] ??
      (loggedEnd
        ? { fromMs: Date.parse(loggedEnd.time!) - (loggedEnd.failedForMs ?? 0), toMs: Date.parse(loggedEnd.time!), readsTried: 0, readsFailed: 0 }
        : undefined);
    const sizeMb = (await sizes).at(-1);
    result.notes.push(`tmpfs sizes (MiB): ${(await sizes).join(', ')}`);
    if (!isAlive(d.proc)) {
      result.violations.push(`the daemon exited (${d.proc.exitCode ?? d.proc.signalCode}) while its store filled the disk`);
    } else if (!first) {
      result.violations.push(
        `the store did not fill the tmpfs (${sizeMb} MiB at the last) within ${fillS + FILL_GRACE_S} s (${(usedBytes(mountpoint) / 1048576).toFixed(1)} MiB used): no commit failed`,
      );
    } else if (first.toMs !== null) {
      const recoveredAtMs = first.toMs;
      const firstFailedMs = Math.min(first.fromMs, loggedEnd ? Date.parse(loggedEnd.time!) - (loggedEnd.failedForMs ?? 0) : Number.POSITIVE_INFINITY);
      const took = `the store filled the tmpfs ${((firstFailedMs - shrunkAtMs) / 1000).toFixed(1)} s after the first shrink; the first spell of failing commits lasted ${((recoveredAtMs - firstFailedMs) / 1000).toFixed(1)} s`;
      log(took);
      result.notes.push(took);
      // After recovery: every job records new runs, a submit is accepted, and more spells (if any) end too.
      try {
        await freshRunsOfEveryJob(d, ids, recoveredAtMs + 500, 15_000);
        result.notes.push(`every job had a new succeeded run ${((Date.now() - recoveredAtMs) / 1000).toFixed(1)} s after the first recovery`);
      } catch (err) {
        result.violations.push(`after the first recovery: ${(err as Error).message}`);
      }
      const watchUntil = Date.now() + watchMs;
      await watch(d, w, () => (Date.now() > watchUntil && !isOpen(w)) || overdue(), onSpell);
    }
    const open = w.spells.find((s) => s.toMs === null);
    if (open)
      result.violations.push(
        `a spell of failing commits began at ${new Date(open.fromMs).toISOString().slice(11, 23)} and had not ended after ${MAX_SPELL_S} s`,
      );

    // The CLI's answers while failing: one line, saying why and what to do.
    let accepted = 0;
    for (const s of submits) {
      const r = await s.cli;
      const lines = r.stderr.split('\n').filter(Boolean);
      if (r.code === 0) {
        // Answered after the spell had ended: accepted, a job to account for like the others.
        accepted += 1;
        ids.push(acceptedJobId(r, before, home));
      } else if (r.code !== 1 || lines.length !== 1 || !FAILED_LINE.test(lines[0]!) || r.stdout !== '') {
        result.violations.push(
          `job submit while commits failed: exit ${r.code}, stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify(r.stderr)} (want one line saying the database cannot be written)`,
        );
      }
    }
    if (submits.length > 0 && refused === 0 && !open) {
      // A probe is a CLI process (~0.2 s to start and answer): a spell the daemon ended sooner
      // than that is recovery working, not a refusal missing (CI: one spell of 0.1 s, probe accepted after it).
      const longest = Math.max(...submits.map(({ spell }) => (spell.toMs ?? Date.now()) - spell.fromMs));
      if (longest >= PROBE_SPELL_MIN_S * 1000)
        result.violations.push(
          `no job submit was refused while commits failed (${accepted} answered only after their spell ended, the longest ${(longest / 1000).toFixed(1)} s)`,
        );
      else
        result.notes.push(
          `every spell probed ended within ${(longest / 1000).toFixed(1)} s, before the job submit sent in it was answered: no refusal to check this run`,
        );
    }
    if (submits.length === 0) result.notes.push('no spell lasted long enough for daemon.status to see it: job submit was not tried while commits failed');
    // After recovery a submit is accepted; the store may just have filled again, then it is tried after that spell.
    if (isAlive(d.proc) && first && !open) {
      let r: CliResult | null = null;
      for (let tries = 0; tries < 3 && r?.code !== 0; tries++) {
        await waitFor('writes to work', async () => (await storeStatus(d))?.failing === false, MAX_SPELL_S * 1000, STATUS_EVERY_MS);
        r = await submitProbe(home, `probe-after-${tries}`);
      }
      if (r?.code === 0) ids.push(acceptedJobId(r, before, home));
      else result.violations.push(`job submit after recovery: exit ${r?.code}: ${r?.stderr.trim()}`);
    }

    // Measured: each spell's length and the reads answered while it lasted; the error lines
    // logged from the first failure on, per minute (each failing component once a minute).
    const entries = logEntries(logFile);
    const rows = w.spells.map((s, i) => {
      const lastsS = ((s.toMs ?? Date.now()) - s.fromMs) / 1000;
      if (s.readsFailed)
        result.violations.push(`spell ${i + 1}: ${s.readsFailed} of ${s.readsTried} job.list calls failed while commits failed (reads need no space)`);
      return `${lastsS.toFixed(1)} s (${s.readsTried - s.readsFailed}/${s.readsTried} reads answered)`;
    });
    const firstErrorMs = Math.min(...entries.filter((e) => (e.level ?? 0) >= 50).map((e) => Date.parse(e.time ?? '')));
    const errorsSince = entries.filter((e) => (e.level ?? 0) >= 50 && Date.parse(e.time ?? '') >= firstErrorMs);
    const failingMinutes = Number.isFinite(firstErrorMs) ? Math.ceil((Date.now() - firstErrorMs) / 60_000) : 0;
    if (errorsSince.length > ERROR_LINES_PER_MINUTE * failingMinutes) {
      result.violations.push(
        `${errorsSince.length} error lines logged in the ${failingMinutes} minute(s) from the first failure on: more than ${ERROR_LINES_PER_MINUTE} a minute (each failing component once a minute)`,
      );
    }
    const recovered = entries.filter((e) => e.msg === 'recording runs works again');
    if (first && recovered.length === 0) result.violations.push('the daemon never logged "recording runs works again"');
    const longest = Math.max(0, ...w.spells.map((s) => ((s.toMs ?? Date.now()) - s.fromMs) / 1000));
    result.notes.push(
      `${w.spells.length} spell(s) of failing commits seen by daemon.status, longest ${longest.toFixed(1)} s (bound ${MAX_SPELL_S} s): ${rows.join('; ')}`,
      `${errorsSince.length} error lines in the ${failingMinutes} minute(s) from the first failure on`,
      `"recording runs works again" logged ${recovered.length}× (failed for ${recovered.map((e) => `${((e.failedForMs ?? 0) / 1000).toFixed(1)} s`).join(', ')}); ${refused} submit(s) refused while failing, ${accepted} answered after their spell`,
      `store (db + WAL) peak ${(w.storePeakBytes / 1048576).toFixed(1)} MiB, WAL peak ${(w.walPeakBytes / 1048576).toFixed(1)} MiB; ${w.statusFailures} daemon.status calls unanswered`,
      ...logKinds(entries.filter((e) => Date.parse(e.time ?? '') >= firstErrorMs && e.msg !== 'slots skipped')),
    );
    log(`${w.spells.length} spell(s), longest ${longest.toFixed(1)} s; ${refused} submit(s) refused while failing`);
    if (!isAlive(d.proc)) result.violations.push(`the daemon exited (${d.proc.exitCode ?? d.proc.signalCode})`);
    // The settling writes (a delete per job) must not meet a full disk: the space goes back now.
    resizeTmpfs(mountpoint, START_SIZE_MB);
    return settleAndVerify(home, d, ids, before, result);
  });
}

/**
 * Shrink the tmpfs every SHRINK_EVERY_MS to what is used plus `perS` growth until `fullByMs`
 * (at least SHRINK_MIN_ROOM_MB), until `full()`: the store's use swings with its WAL (tens of
 * MiB that a checkpoint gives back at once), so one size measured once may take minutes to
 * fill, or never. Returns the sizes set (MiB).
 */
async function shrinkUntilFull(mountpoint: string, perS: number, fullByMs: number, full: () => boolean): Promise<number[]> {
  const sizes: number[] = [];
  const giveUpMs = fullByMs + FILL_GRACE_S * 1000;
  while (!full() && Date.now() < giveUpMs) {
    const leftS = Math.max(0, fullByMs - Date.now()) / 1000;
    const sizeMb = Math.ceil((usedBytes(mountpoint) + Math.max(SHRINK_MIN_ROOM_MB << 20, perS * leftS)) / 1048576);
    if (sizes.length === 0 || sizeMb < sizes.at(-1)!) {
      try {
        resizeTmpfs(mountpoint, sizeMb);
        sizes.push(sizeMb);
      } catch {
        // more in use than that by now: the next round
      }
    }
    await sleep(SHRINK_EVERY_MS);
  }
  return sizes;
}

/** `job submit` of a job that first fires tomorrow (it never fires here), by the CLI as a user runs it. */
function submitProbe(home: TmpfsHome, name: string): Promise<CliResult> {
  const start = new Date(Date.now() + 86_400_000).toISOString();
  return runCliProcess(
    [
      'job',
      'submit',
      '--name',
      name,
      '--interval',
      '1d',
      '--start',
      start,
      '--no-scope',
      '--action-url',
      home.ap.runUrl,
      '--action-body',
      '{"body": {}}',
      '--no-autostart',
    ],
    { ...process.env, GLOBUS_TIMER_HOME: home.mountpoint, GLOBUS_TIMER_NO_AUTOSTART: '1' },
  );
}

/** The id of a job the CLI accepted, added to the snapshot verify() checks against. */
function acceptedJobId(r: CliResult, before: Map<string, JobDefinition>, home: TmpfsHome): string {
  const id = /\b([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b/.exec(r.stdout)?.[1];
  if (!id) throw new Error(`job submit printed no job id: ${JSON.stringify(r.stdout)}`);
  const row = snapshotJobs(home.paths.dbFile).get(id);
  if (!row) throw new Error(`job ${id} was accepted but is not in the store`);
  before.set(id, row);
  return id;
}
