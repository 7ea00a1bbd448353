/**
 * Storage (issue 17 item 4). Two parts.
 *
 * The store after `runs` runs of `jobs` jobs (default 1,000,000 of 10,000), each run a Globus
 * Transfer whose status document is the recorded one (shared/reference) with a Transfer
 * task's counts in `details`: written a slot at a time across the jobs, as the runner writes
 * them (insert, attempt, status with the document), each round followed by compaction of
 * every job, as the daemon's passes do, with the checkpointer's worker running and waited for
 * as the compactor waits for it. Measured (SQLite's dbstat): bytes per run kept whole (the
 * `runs` table and its indexes, once every job has its 10) and compacted (run_archive and
 * its indexes), the file and the WAL at the end, and what the same runs would take whole.
 *
 * The WAL at rest, on a real daemon: `burstJobs` jobs fire every second for `burstS`
 * seconds against a provider whose status documents are ~4 KB (the WAL grows), then every
 * job is paused; measured: the WAL's largest size during the burst, its size once the daemon
 * is idle, and how long that took (store/checkpointer.ts truncates it when idle).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { resolveConfig } from '../../src/config/config.ts';
import { resolvePaths } from '../../src/config/paths.ts';
import { systemClock } from '../../src/core/clock.ts';
import { JobService } from '../../src/daemon/jobs/job-service.ts';
import { startCheckpointer } from '../../src/daemon/store/checkpointer.ts';
import { insertJob } from '../../src/daemon/store/jobs.ts';
import { openDb, type Db } from '../../src/daemon/store/open.ts';
import { compactJobRuns } from '../../src/daemon/store/run-history.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { recordedStatusDocument, startFakeProvider } from '../../test/support/provider.ts';
import { writeSucceededRun } from '../../test/support/runs.ts';
import { daemonEnv, startDaemon } from '../lib/daemon.ts';
import { makeTempDir, removeTempDir, sleep } from '../lib/procs.ts';
import { round } from '../lib/stats.ts';

export interface StorageParams {
  jobs: number;
  runs: number;
  /** Runs kept whole per job (the daemon's default fullRunsPerJob). */
  keepFull: number;
  burstJobs: number;
  burstS: number;
}

export interface StorageRow {
  scenario: 'storage';
  jobs: number;
  runs: number;
  document_bytes: number;
  whole_bytes_per_run: number | null;
  compacted_bytes_per_run: number | null;
  store_mb: number | null;
  store_whole_estimate_mb: number | null;
  build_s: number | null;
  burst_jobs: number;
  burst_s: number;
  wal_peak_mb: number | null;
  wal_at_rest_mb: number | null;
  wal_rest_after_s: number | null;
  [key: string]: unknown;
}

const MIB = 1048576;
const MINUTE_MS = 60_000;

/** A Transfer run's status document: the recorded one, its details a Transfer task's counts (as summaries read them). */
function transferStatus(k: number): Record<string, unknown> {
  const doc = recordedStatusDocument();
  const details = (typeof doc.details === 'object' && doc.details !== null ? doc.details : {}) as Record<string, unknown>;
  return {
    ...doc,
    status: 'SUCCEEDED',
    display_status: 'SUCCEEDED',
    details: { ...details, DATA_TYPE: 'task', type: 'TRANSFER', files: 120, files_transferred: 120, files_skipped: 0, bytes_transferred: (k + 1) * 52_428_800 },
  };
}

function bytesOfTable(db: Db, table: string): number {
  return (
    (db.$client.prepare('SELECT sum(pgsize) FROM dbstat WHERE name IN (SELECT name FROM sqlite_schema WHERE tbl_name = ?)').pluck().get(table) as
      | number
      | null) ?? 0
  );
}

function seedJobs(db: Db, n: number, startMs: number): string[] {
  const ids: string[] = [];
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const id = randomUUID();
      insertJob(db, {
        id,
        name: `transfer-${i}`,
        startAtMs: startMs,
        intervalSeconds: 60,
        callbackUrl: 'https://actions.globus.org/transfer/transfer/run',
        callbackBody: { body: {} },
        status: 'loaded',
        submittedAtMs: startMs,
        nextSlotIndex: 0,
        updatedAtMs: startMs,
      });
      ids.push(id);
    }
  });
  return ids;
}

async function buildStore(p: StorageParams, progress: (m: string) => void) {
  const dir = makeTempDir('gtb-store-');
  try {
    const dbFile = resolvePaths(daemonEnv(dir)).dbFile;
    const db = openDb(dbFile);
    const checkpointer = startCheckpointer(db, dbFile, silentLogger());
    const startMs = Date.now() - 365 * 86_400_000;
    const jobIds = seedJobs(db, p.jobs, startMs);
    const rounds = Math.ceil(p.runs / p.jobs);
    const documentBytes = JSON.stringify(transferStatus(0)).length;
    let wholeBytesPerRun = 0;
    const started = Date.now();
    for (let k = 0; k < rounds; k++) {
      const slotAtMs = startMs + k * MINUTE_MS;
      db.transaction(() => {
        for (const jobId of jobIds) {
          writeSucceededRun(db, jobId, slotAtMs, transferStatus(k));
        }
      });
      if (k === p.keepFull - 1) wholeBytesPerRun = bytesOfTable(db, 'runs') / (p.jobs * p.keepFull);
      // As the daemon's passes: each job, then wait for the checkpointer to catch up.
      for (let i = 0; i < jobIds.length; i += 500) {
        db.transaction(() => {
          for (const jobId of jobIds.slice(i, i + 500)) compactJobRuns(db, jobId, p.keepFull, Number.MAX_SAFE_INTEGER, 16);
        });
        await checkpointer.caughtUp(5_000);
      }
      if ((k + 1) % 10 === 0) progress(`storage: ${((k + 1) * p.jobs).toLocaleString('en-US')} runs written and compacted`);
    }
    const buildS = (Date.now() - started) / 1000;
    const archived = db.$client.prepare('SELECT count(*) FROM run_archive').pluck().get() as number;
    const compactedBytesPerRun = bytesOfTable(db, 'run_archive') / archived;
    await checkpointer.caughtUp(10_000);
    await checkpointer.stop();
    db.$client.close();
    const size = (f: string) => (fs.existsSync(f) ? fs.statSync(f).size : 0);
    return {
      documentBytes,
      wholeBytesPerRun,
      compactedBytesPerRun,
      storeMb: (size(dbFile) + size(`${dbFile}-wal`)) / MIB,
      wholeEstimateMb: (wholeBytesPerRun * p.runs) / MIB,
      buildS,
    };
  } finally {
    removeTempDir(dir);
  }
}

/** A real daemon's WAL through a burst and after it. */
async function walAtRest(p: StorageParams, progress: (m: string) => void) {
  const dir = makeTempDir('gtb-wal-');
  const ap = await startFakeProvider();
  try {
    ap.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 1, final: 'SUCCEEDED', document: { details: { pad: 'p'.repeat(4_000) } } };
    const dbFile = resolvePaths(daemonEnv(dir)).dbFile;
    const ids: string[] = [];
    {
      const db = openDb(dbFile);
      const service = new JobService({ db, clock: systemClock, config: resolveConfig({}), onScheduleChange: () => {} });
      const t0 = Date.now() + 2_000;
      for (let i = 0; i < p.burstJobs; i++) {
        const start = new Date(t0 + Math.floor((i * 1000) / p.burstJobs)).toISOString();
        ids.push(service.submit({ name: `burst-${i}`, start, interval_seconds: 1, callback_url: ap.runUrl, callback_body: { body: {} }, scope: null }).job_id);
      }
      db.$client.close();
    }
    const daemon = await startDaemon(dir, { env: { GLOBUS_TIMER_POLL_INITIAL_MS: '100', GLOBUS_TIMER_POLL_MAX_MS: '300' } });
    try {
      const walMb = () => (fs.existsSync(`${dbFile}-wal`) ? fs.statSync(`${dbFile}-wal`).size / MIB : 0);
      let peak = 0;
      progress(`storage: ${p.burstJobs} jobs firing every second for ${p.burstS} s (4 KB documents)`);
      for (const until = Date.now() + p.burstS * 1000; Date.now() < until; ) {
        peak = Math.max(peak, walMb());
        await sleep(200);
      }
      const client = await daemon.connect();
      for (const id of ids) await client.call('job.pause', { job_id: id });
      client.close();
      const pausedAt = Date.now();
      let rest: number | null = null;
      while (Date.now() - pausedAt < 60_000) {
        peak = Math.max(peak, walMb());
        if (walMb() <= 4) {
          rest = (Date.now() - pausedAt) / 1000;
          break;
        }
        await sleep(250);
      }
      return { peak, atRest: walMb(), restAfterS: rest };
    } finally {
      await daemon.stop();
    }
  } finally {
    await ap.close();
    removeTempDir(dir);
  }
}

export async function runStorage(p: StorageParams, progress: (m: string) => void): Promise<StorageRow> {
  const built = await buildStore(p, progress);
  const wal = await walAtRest(p, progress);
  return {
    scenario: 'storage',
    jobs: p.jobs,
    runs: p.runs,
    document_bytes: built.documentBytes,
    whole_bytes_per_run: round(built.wholeBytesPerRun, 1),
    compacted_bytes_per_run: round(built.compactedBytesPerRun, 1),
    store_mb: round(built.storeMb, 1),
    store_whole_estimate_mb: round(built.wholeEstimateMb, 0),
    build_s: round(built.buildS, 1),
    burst_jobs: p.burstJobs,
    burst_s: p.burstS,
    wal_peak_mb: round(wal.peak, 1),
    wal_at_rest_mb: round(wal.atRest, 2),
    wal_rest_after_s: wal.restAfterS === null ? null : round(wal.restAfterS, 1),
  };
}
