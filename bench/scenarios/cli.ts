/**
 * CLI: whole-process wall time of `globus-timer job status ID` and `globus-timer job list`
 * (bin/globus-timer.js, as installed) against a running daemon with a small database, next
 * to `node -e 0` (and `globus-timer --version`: start-up alone, no daemon call), timed
 * round-robin in the same run after one untimed run of each; medians.
 */
import { spawnSync } from 'node:child_process';
import { resolvePaths } from '../../src/config/paths.ts';
import { daemonEnv, startDaemon } from '../lib/daemon.ts';
import { BIN, entryKind } from '../lib/entry.ts';
import { makeTempDir, removeTempDir, ROOT } from '../lib/procs.ts';
import { seedScale } from '../lib/seed.ts';
import { median, round } from '../lib/stats.ts';

export interface CliRow {
  scenario: 'cli';
  command: string;
  median_ms: number | null;
  min_ms: number | null;
  vs_node: number | null;
  runs: number;
  [key: string]: unknown;
}

export async function runCliScenario({ runs, jobs }: { runs: number; jobs: number }): Promise<CliRow[]> {
  const dir = makeTempDir('gtb-');
  try {
    const env = daemonEnv(dir);
    const seed = seedScale(resolvePaths(env).dbFile, jobs, 'http://127.0.0.1:9/run', { withRuns: jobs, sample: 1 });
    const daemon = await startDaemon(dir);
    try {
      const bin = BIN;
      const entry = entryKind();
      const commands: [string, string[]][] = [
        ['node -e 0', ['-e', '0']],
        ['globus-timer --version', [bin, '--version']],
        ['globus-timer job status ID', [bin, 'job', 'status', seed.sampleIds[0]!]],
        [`globus-timer job list (${jobs} jobs)`, [bin, 'job', 'list']],
      ];
      const times = new Map<string, number[]>(commands.map(([name]) => [name, []]));
      for (let round = -1; round < runs; round++) {
        for (const [name, args] of commands) {
          const t = performance.now();
          const r = spawnSync(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
          const ms = performance.now() - t;
          if (r.status !== 0) throw new Error(`${name} exited ${r.status}: ${r.stderr.toString()}`);
          if (round >= 0) times.get(name)!.push(ms);
        }
      }
      const nodeMs = median(times.get('node -e 0')!);
      return commands.map(([name]) => {
        const ms = times.get(name)!;
        const med = median(ms);
        return {
          scenario: 'cli',
          command: name,
          median_ms: round(med, 1),
          min_ms: round(Math.min(...ms), 1),
          vs_node: med !== null && nodeMs ? round(med / nodeMs, 2) : null,
          runs,
          entry: name.startsWith('globus-timer') ? entry : 'node',
        };
      });
    } finally {
      await daemon.stop();
    }
  } finally {
    removeTempDir(dir);
  }
}
