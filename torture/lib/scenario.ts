/**
 * The contract every torture scenario keeps (issue #5). A scenario drives the real daemon
 * process, a real SQLite file and a real loopback Action Provider that records every
 * request, then checks the guarantees from the provider's records and the database.
 *
 * `npm test` runs each scenario at its `fast` size (test/torture.test.ts: every violation
 * fails the test); `npm run torture` at its `long` size, with any parameter overridable by
 * a flag, and prints one row per scenario (torture/main.ts). A scenario, or a part of one,
 * that cannot run here (not root, no libfaketime, …) says why in `skipped`, and both report
 * it as skipped rather than passed.
 */

/** Numeric knobs of a scenario (jobs, kills, seconds, …); each becomes a `--name N` flag. */
export type ScenarioParams = Record<string, number>;

export interface ScenarioResult {
  scenario: string;
  /** Runs the provider saw fired (distinct request_ids). */
  runsFired: number;
  /** Slots whose fate was checked (fired, counted missed, or counted overlap-skipped). */
  slotsChecked: number;
  /** Slots submitted under two request_ids, or a request_id used for two slots. */
  duplicates: number;
  /** Slots that neither fired nor were counted as missed or overlap-skipped. */
  missedUncounted: number;
  /** Runs still open after recovery, when they should have ended. */
  stuckRuns: number;
  /** `PRAGMA integrity_check` of the database at the end ('ok', or what it said). */
  integrity: string;
  /** Every other broken guarantee, one line each (empty when all held). */
  violations: string[];
  /** Measurements and facts worth printing (e.g. healthy-job lateness while a provider is dead). */
  notes: string[];
  /** Parts not run here, with the reason (e.g. not root, faketime missing). */
  skipped: string[];
  /**
   * False when none of the scenario ran here (every part skipped, the reasons in `skipped`):
   * it is then reported as skipped, never as passed (test/torture.test.ts, torture/main.ts).
   */
  ran: boolean;
}

export interface Scenario {
  name: string;
  describe: string;
  fast: ScenarioParams;
  long: ScenarioParams;
  /** One line per parameter, for --help. */
  paramHelp: Record<string, string>;
  run(params: ScenarioParams, log: (line: string) => void): Promise<ScenarioResult>;
}

/** Everything a result says went wrong, for an assertion message. */
export function problems(r: ScenarioResult): string[] {
  const out = [...r.violations];
  if (r.duplicates) out.push(`${r.duplicates} duplicate submissions`);
  if (r.missedUncounted) out.push(`${r.missedUncounted} slots missed without being counted`);
  if (r.stuckRuns) out.push(`${r.stuckRuns} runs stuck unfinished`);
  if (r.integrity !== 'ok') out.push(`integrity_check: ${r.integrity}`);
  return out;
}

/** A blank result to fill in, for a scenario (or part) that runs. */
export function emptyResult(scenario: string): ScenarioResult {
  return {
    scenario,
    runsFired: 0,
    slotsChecked: 0,
    duplicates: 0,
    missedUncounted: 0,
    stuckRuns: 0,
    integrity: 'ok',
    violations: [],
    notes: [],
    skipped: [],
    ran: true,
  };
}

/** The result of a scenario (or part) that cannot run here at all, and why (e.g. it needs root). */
export function notRun(scenario: string, why: string): ScenarioResult {
  return { ...emptyResult(scenario), skipped: [why], ran: false };
}

/** How a result reads in one word: FAIL when a guarantee broke, skipped when nothing ran, else ok. */
export function verdict(r: ScenarioResult): 'FAIL' | 'skipped' | 'ok' {
  if (problems(r).length) return 'FAIL';
  return r.ran ? 'ok' : 'skipped';
}
