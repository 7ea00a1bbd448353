import type { ResolvedConfig } from '../config/config.ts';
import type { Db } from './store/open.ts';
import { pruneOldRuns } from './store/run-history.ts';
import { coerceError } from '../core/errors.ts';
import type { Logger } from '../log/logger.ts';
import type { Clock, TimerHandle } from '../core/clock.ts';

const PRUNE_EVERY_MS = 10 * 60_000;
const PRUNE_BATCH = 500;

/**
 * Delete finished runs older than the retention, a small batch at a time with the event
 * loop free in between, so fires are never held up. Job totals (n_runs, n_errors) are
 * counters on the job row and stay exact. Returns a stop function, which resolves once the
 * pass under way (if any) has ended: at most the batch in progress finishes, and nothing
 * touches the database after it. Pruned runs come from both tables (store/run-history.ts).
 */
export function startRetention({ db, clock, config, log }: { db: Db; clock: Clock; config: ResolvedConfig; log: Logger }): {
  stop: () => Promise<void>;
  /** Prune now rather than at the next pass (out of space), unless a pass is under way. */
  passNow: () => void;
} {
  let timer: TimerHandle | undefined;
  let stopped = false;
  let passing: Promise<void> | undefined;
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
    if (!stopped) timer = clock.setTimer(startPass, PRUNE_EVERY_MS);
  };
  const startPass = () => {
    passing = pass().finally(() => (passing = undefined));
  };
  timer = clock.setTimer(startPass, 0);
  return {
    stop: async () => {
      stopped = true;
      clock.clearTimer(timer);
      await passing;
    },
    passNow: () => {
      if (stopped || passing) return;
      clock.clearTimer(timer);
      startPass();
    },
  };
}
