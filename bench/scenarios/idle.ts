/**
 * Idle (issue 18): what a daemon costs when it has nothing to do. Ten hourly jobs, their next
 * slots beyond the window, submitted over the socket as a user would; after `settleS`, the
 * daemon's CPU time (utime + stime from /proc) over `windowS` seconds, as a share of one core,
 * and its RSS at the end. Every timer the daemon keeps while idle (the scheduler's longest
 * sleep, the checkpointer, retention, compaction's passes, the WAL's rest check) shows here.
 */
import { startDaemon } from '../lib/daemon.ts';
import { makeTempDir, removeTempDir, sleep } from '../lib/procs.ts';
import { round } from '../lib/stats.ts';

export interface IdleParams {
  jobs: number;
  windowS: number;
  settleS: number;
}

export interface IdleRow {
  scenario: 'idle';
  jobs: number;
  window_s: number;
  cpu_pct: number | null;
  cpu_ms: number | null;
  rss_mb: number | null;
  [key: string]: unknown;
}

export async function runIdle(p: IdleParams): Promise<IdleRow> {
  const dir = makeTempDir('gtb-idle-');
  try {
    const daemon = await startDaemon(dir);
    try {
      const client = await daemon.connect();
      try {
        // The first slot two hours away: nothing fires in the window.
        const start = new Date(Date.now() + 2 * 3_600_000).toISOString();
        for (let i = 0; i < p.jobs; i++) {
          await client.call('job.submit', {
            name: `hourly-${i}`,
            interval_seconds: 3600,
            start,
            callback_url: 'http://127.0.0.1:9/run',
            callback_body: { body: { i } },
          });
        }
      } finally {
        client.close();
      }
      await sleep(p.settleS * 1000);
      const before = daemon.stats();
      await sleep(p.windowS * 1000);
      const after = daemon.stats();
      const cpuS = before && after ? after.cpuS - before.cpuS : null;
      return {
        scenario: 'idle',
        jobs: p.jobs,
        window_s: p.windowS,
        cpu_pct: cpuS === null ? null : round((cpuS / p.windowS) * 100, 4),
        cpu_ms: cpuS === null ? null : round(cpuS * 1000, 0),
        rss_mb: round(after?.rssMb, 1),
      };
    } finally {
      await daemon.stop();
    }
  } finally {
    removeTempDir(dir);
  }
}
