import { ERROR_CODES, InvalidInputError, TimerError } from '../core/errors.ts';
import { checkOnFailureCommand, type OnFailure } from '../core/on-failure.ts';

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
  /**
   * Each job's newest runs kept whole, with the provider's status document (and always its
   * newest failure); older runs are compacted to what `job history` prints (issue 17,
   * daemon/compaction.ts). At least 1: a job's newest run is read whole (the job document, events).
   */
  fullRunsPerJob: number;
  /** On SIGTERM, how long in-flight bookkeeping may take before it is cut off. */
  shutdownGraceMs: number;
  /** How long a failure hook (`--on-failure`, daemon/notify) may run before it is stopped (SIGTERM, then SIGKILL). */
  onFailureTimeoutMs: number;
}

/** setTimeout's longest delay (2^31 - 1 ms): a longer one fires at once, so a wait that long would spin. */
const LONGEST_TIMER_MS = 2_147_483_647;

/**
 * What one setting may be: a whole number of `unit` from `min` to `max`; `default` when
 * unset. Days may be fractions (`0.5`: 12 hours, as the settings have always taken them);
 * `aboveMin`: `min` itself is refused (a run lifetime of 0 days would abandon every run).
 */
interface Setting {
  default: number;
  min: number;
  max: number;
  unit: string;
  fractions?: true;
  aboveMin?: true;
}

/**
 * Every setting's default and the values it may take: the one table both the environment
 * and explicit options are checked against, each key on its own. A minimum above 0 says
 * that 0 would break the daemon (a scheduler that claims nothing and loops, a timer that
 * spins, requests that cannot succeed); a maximum on a delay keeps it within setTimeout,
 * and days stop at 100,000 (274 years) so that in milliseconds they stay exact numbers.
 */
const SETTINGS: { readonly [K in keyof ResolvedConfig]: Setting } = {
  maxTimerDelayMs: { default: 30_000, min: 1, max: LONGEST_TIMER_MS, unit: 'milliseconds' },
  misfireGraceMs: { default: 60_000, min: 0, max: Number.MAX_SAFE_INTEGER, unit: 'milliseconds' },
  fireBatchSize: { default: 500, min: 1, max: Number.MAX_SAFE_INTEGER, unit: 'jobs' },
  fireLeadMs: { default: 20, min: 0, max: LONGEST_TIMER_MS, unit: 'milliseconds' },
  actionTimeoutMs: { default: 30_000, min: 1, max: LONGEST_TIMER_MS, unit: 'milliseconds' },
  maxConnectionsPerOrigin: { default: 16, min: 1, max: Number.MAX_SAFE_INTEGER, unit: 'connections' },
  maxResponseBytes: { default: 1 << 20, min: 1, max: Number.MAX_SAFE_INTEGER, unit: 'bytes' },
  retryInitialMs: { default: 1_000, min: 1, max: LONGEST_TIMER_MS, unit: 'milliseconds' },
  retryMaxMs: { default: 60_000, min: 1, max: LONGEST_TIMER_MS, unit: 'milliseconds' },
  retryWindowMaxMs: { default: 45 * 60_000, min: 0, max: Number.MAX_SAFE_INTEGER, unit: 'milliseconds' },
  pollInitialMs: { default: 1_000, min: 1, max: LONGEST_TIMER_MS, unit: 'milliseconds' },
  pollMaxMs: { default: 5 * 60_000, min: 1, max: LONGEST_TIMER_MS, unit: 'milliseconds' },
  runLifetimeDays: { default: 30, min: 0, max: 100_000, unit: 'days', fractions: true, aboveMin: true },
  maxRunsInFlightPerJob: { default: 10, min: 0, max: Number.MAX_SAFE_INTEGER, unit: 'runs' },
  tokenRefreshMarginMs: { default: 60_000, min: 0, max: Number.MAX_SAFE_INTEGER, unit: 'milliseconds' },
  retentionDays: { default: 90, min: 0, max: 100_000, unit: 'days', fractions: true },
  retentionRunsPerJob: { default: 1_000, min: 0, max: Number.MAX_SAFE_INTEGER, unit: 'runs' },
  fullRunsPerJob: { default: 10, min: 1, max: Number.MAX_SAFE_INTEGER, unit: 'runs' },
  shutdownGraceMs: { default: 5_000, min: 0, max: LONGEST_TIMER_MS, unit: 'milliseconds' },
  onFailureTimeoutMs: { default: 60_000, min: 1, max: LONGEST_TIMER_MS, unit: 'milliseconds' },
};

const KEYS = Object.keys(SETTINGS) as (keyof ResolvedConfig)[];

export const DEFAULT_CONFIG: ResolvedConfig = defaults();

function defaults(): ResolvedConfig {
  const config: Partial<ResolvedConfig> = {};
  for (const key of KEYS) config[key] = SETTINGS[key].default;
  return config as ResolvedConfig;
}

/** The environment variable of a setting: `GLOBUS_TIMER_` + its name in SCREAMING_SNAKE_CASE. */
function envName(key: keyof ResolvedConfig): string {
  return 'GLOBUS_TIMER_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

/** What `key` may be, in words: `a whole number of jobs, 1 or more (default 500)`. */
function allowedValues(key: keyof ResolvedConfig): string {
  const { min, max, unit, default: byDefault, fractions, aboveMin } = SETTINGS[key];
  const range = aboveMin ? `, more than ${min} and at most ${max}` : max === Number.MAX_SAFE_INTEGER ? `, ${min} or more` : ` from ${min} to ${max}`;
  return `${fractions ? 'a number' : 'a whole number'} of ${unit}${range} (default ${byDefault})`;
}

/** `value` if `key` may have it; else an error naming where it came from (`source`), what is allowed and `orElse`. */
function checked(key: keyof ResolvedConfig, value: number, source: string, orElse = ''): number {
  const { min, max, fractions, aboveMin } = SETTINGS[key];
  const numberOk = fractions ? Number.isFinite(value) : Number.isSafeInteger(value);
  if (numberOk && (aboveMin ? value > min : value >= min) && value <= max) return value;
  throw new InvalidInputError(`invalid ${source}: give ${allowedValues(key)}${orElse}`);
}

/**
 * Build a new config object; never changes the objects passed in. Each value, from the
 * environment or `overrides`, is checked against its key's rule (SETTINGS): a bad one is
 * refused with the key's name and what it may be, never run with.
 */
export function resolveConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<ResolvedConfig> = {}): ResolvedConfig {
  const resolved: ResolvedConfig = { ...DEFAULT_CONFIG };
  for (const key of KEYS) {
    const name = envName(key);
    const raw = env[name];
    // Empty is unset; blanks are refused (Number(' ') would read them as 0).
    if (raw !== undefined && raw !== '') resolved[key] = checked(key, raw.trim() === '' ? Number.NaN : Number(raw), `${name}=${raw}`, ', or unset it');
    const given = overrides[key];
    if (given !== undefined) resolved[key] = checked(key, given, `config ${key}: ${given}`);
  }
  return resolved;
}

/** The daemon-wide failure hook's variables: a command, and whether to show a desktop notification. */
const ON_FAILURE_ENV = 'GLOBUS_TIMER_ON_FAILURE';
const ON_FAILURE_NOTIFY_ENV = 'GLOBUS_TIMER_ON_FAILURE_NOTIFY';

/**
 * The daemon-wide failure hook (issue 16 item 5), for jobs that set none of their own: a
 * shell command in GLOBUS_TIMER_ON_FAILURE, a desktop notification with
 * GLOBUS_TIMER_ON_FAILURE_NOTIFY=1; null when neither is set. A string, not a number, so
 * not one of the SETTINGS above; refused as they are when malformed, as CONFIG_INVALID (read
 * when the daemon starts: exit 1, as for every setting, not a usage error).
 */
export function onFailureDefaultFromEnv(env: NodeJS.ProcessEnv = process.env): OnFailure | null {
  const raw = env[ON_FAILURE_ENV];
  let command: string | null = null;
  // Empty is unset, as for every setting.
  if (raw !== undefined && raw !== '') {
    try {
      command = checkOnFailureCommand(raw, ON_FAILURE_ENV);
    } catch (err) {
      throw new TimerError(ERROR_CODES.CONFIG_INVALID, (err as Error).message, { cause: err });
    }
  }
  const flag = env[ON_FAILURE_NOTIFY_ENV]?.trim().toLowerCase() ?? '';
  if (!['', '0', '1', 'true', 'false', 'yes', 'no'].includes(flag)) {
    throw new TimerError(
      ERROR_CODES.CONFIG_INVALID,
      `invalid ${ON_FAILURE_NOTIFY_ENV}=${env[ON_FAILURE_NOTIFY_ENV]}: give 1 (show a desktop notification) or 0, or unset it`,
    );
  }
  const notify = ['1', 'true', 'yes'].includes(flag);
  return command === null && !notify ? null : { command, notify };
}
