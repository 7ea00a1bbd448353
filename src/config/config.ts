import { InvalidInputError } from '../core/errors.ts';

/**
 * Daemon settings, every one with its unit in its name. Resolved once at startup from the
 * defaults below, overridden by `GLOBUS_TIMER_<NAME>` environment variables (the name in
 * SCREAMING_SNAKE_CASE, e.g. `GLOBUS_TIMER_RETENTION_DAYS=30`), then by explicit options.
 * The result has no optional fields, so nothing downstream checks for undefined.
 */
export interface ResolvedConfig {
  /** Longest single sleep of the scheduler, so suspend and wall-clock jumps are noticed. */
  maxTimerDelayMs: number;
  /**
   * With `--misfire skip`, the latest due slot still fires if it is at most this late;
   * older slots count as missed. Keeps a busy machine's few-ms lateness from skipping runs.
   */
  misfireGraceMs: number;
  /** How many due jobs one scheduler pass claims in one transaction. */
  fireBatchSize: number;
  /**
   * The scheduler wakes this long before a slot and claims (decides and commits) the runs
   * due within twice this, so the database work is done before the slot; each run is then
   * sent at its slot, never before. The overlap rule is thus checked up to 2× this early.
   */
  fireLeadMs: number;
  /** Deadline of one HTTP request to an Action Provider. */
  actionTimeoutMs: number;
  /** Concurrent connections per provider origin: one dead provider cannot take them all. */
  maxConnectionsPerOrigin: number;
  /** Largest provider response body read; bigger ones fail the request. */
  maxResponseBytes: number;
  /** First and longest wait between transient-failure retries of a submission. */
  retryInitialMs: number;
  retryMaxMs: number;
  /** Retries stop after min(this, interval / 2) since the run fired (SPEC §3). */
  retryWindowMaxMs: number;
  /** First and longest wait between status polls of an ACTIVE/INACTIVE action. */
  pollInitialMs: number;
  pollMaxMs: number;
  /**
   * The longest a run is followed, from when it fired (its slot if it never did). A run still
   * open past it (an action ACTIVE for weeks, a provider that never ends it) is completed as
   * failed with RUN_ABANDONED and no longer polled, so no run polls with the user's token
   * forever. Checked each time its poll loop wakes and at start-up.
   */
  runLifetimeDays: number;
  /**
   * With `--overlap allow`, the most runs of one job in flight at once (open in the database);
   * at the cap a due slot is skipped as the overlap rule skips it (overlap_skipped_slots), and
   * `job run` refuses without --force. Bounds what a job whose actions never end can pile up.
   * At least 1 (0 counts as 1: an overlap-allow job must be able to run).
   */
  maxRunsInFlightPerJob: number;
  /** An access token is refreshed when it has less than this left, so none expires mid-request. */
  tokenRefreshMarginMs: number;
  /** Finished runs older than this are pruned; a job's totals stay exact. */
  retentionDays: number;
  /** ...and each job keeps at most this many finished runs. */
  retentionRunsPerJob: number;
  /** On SIGTERM, how long in-flight bookkeeping may take before it is cut off. */
  shutdownGraceMs: number;
}

export const DEFAULT_CONFIG: ResolvedConfig = {
  maxTimerDelayMs: 30_000,
  misfireGraceMs: 60_000,
  fireBatchSize: 500,
  fireLeadMs: 20,
  actionTimeoutMs: 30_000,
  maxConnectionsPerOrigin: 16,
  maxResponseBytes: 1 << 20,
  retryInitialMs: 1_000,
  retryMaxMs: 60_000,
  retryWindowMaxMs: 45 * 60_000,
  pollInitialMs: 1_000,
  pollMaxMs: 5 * 60_000,
  runLifetimeDays: 30,
  maxRunsInFlightPerJob: 10,
  tokenRefreshMarginMs: 60_000,
  retentionDays: 90,
  retentionRunsPerJob: 1_000,
  shutdownGraceMs: 5_000,
};

function envName(key: string): string {
  return 'GLOBUS_TIMER_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

/** Build a new config object; never changes the objects passed in. */
export function resolveConfig(
  env: NodeJS.ProcessEnv = process.env,
  overrides: Partial<ResolvedConfig> = {},
): ResolvedConfig {
  const resolved: ResolvedConfig = { ...DEFAULT_CONFIG };
  for (const key of Object.keys(DEFAULT_CONFIG) as (keyof ResolvedConfig)[]) {
    const name = envName(key);
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0) {
      throw new InvalidInputError(`${name}=${raw} is not a non-negative number; fix or unset it`);
    }
    resolved[key] = value;
  }
  for (const [key, value] of Object.entries(overrides) as [keyof ResolvedConfig, number | undefined][]) {
    if (value !== undefined) resolved[key] = value;
  }
  return resolved;
}
