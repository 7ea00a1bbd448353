import type { ResolvedConfig } from '../config/config.ts';
import type { Db } from './store/open.ts';
import { pruneOldRuns } from './store/runs.ts';
import { coerceError } from '../core/errors.ts';
import type { Logger } from '../log/logger.ts';
import type { Clock, TimerHandle } from '../core/clock.ts';

const PRUNE_EVERY_MS = 10 * 60_000;
const PRUNE_BATCH = 500;

/**
 * Delete finished runs older than the retention, a small batch at a time with the event
 * loop free in between, so fires are never held up. Job totals (n_runs, n_errors) are
 * counters on the job row and stay exact. Returns a stop function.
 */
export function startRetention({ db, clock, config, log }: { db: Db; clock: Clock; config: ResolvedConfig; log: Logger }): () => void {
  let timer: TimerHandle | undefined;
  let stopped = false;
  const pass = async () => {
    const beforeMs = clock.now() - config.retentionDays * 86_400_000;
    let total = 0;
    try {
      for (let n = PRUNE_BATCH; n === PRUNE_BATCH && !stopped; total += n) {
        n = pruneOldRuns(db, beforeMs, PRUNE_BATCH);
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (total) log.info({ deleted: total, retentionDays: config.retentionDays }, 'pruned old runs');
    } catch (err) {
      log.error({ err: coerceError(err) }, 'pruning old runs failed');
    }
    if (!stopped) timer = clock.setTimer(() => void pass(), PRUNE_EVERY_MS);
  };
  timer = clock.setTimer(() => void pass(), 0);
  return () => {
    stopped = true;
    clock.clearTimer(timer);
  };
}
