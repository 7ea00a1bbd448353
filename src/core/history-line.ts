import type { RunState } from './vocabulary.ts';

/**
 * A run as `job history` shows it, cell by cell (pure): the CLI's table (cli/commands/job/history.ts)
 * and the line a failure hook is given (daemon/notify), so both say the same thing. Here,
 * not in src/cli, because the daemon may not import the CLI.
 */

/** `12 ms`, `1.5 s`, `3m 05s`, `2h 10m`. */
export function formatLateness(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  const a = Math.abs(ms);
  if (a < 1000) return `${sign}${a} ms`;
  if (a < 60_000) return `${sign}${(a / 1000).toFixed(1)} s`;
  const s = Math.floor(a / 1000);
  if (s < 3600) return `${sign}${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${sign}${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Where one run stands: its action's status, or where its submission is (`job history`, `job list`). */
export function runStatusLabel(run: { run_state: RunState; attempts: number; action_status: string | null }): string {
  if (run.run_state === 'pending') return run.attempts > 1 ? 'RETRYING' : 'SUBMITTING';
  if (run.run_state === 'failed') return 'FAILED';
  return run.action_status ?? run.run_state.toUpperCase();
}

/** The columns of `job history`, in order. */
export const HISTORY_COLUMNS = ['Slot', 'Fired At', 'Late', 'Action ID', 'Status', 'Summary'] as const;

/** What the line reads of a run: fields of a `job history` entry (contract/protocol.ts HistoryEntry). */
interface HistoryLineInput {
  manual: boolean;
  slot: string;
  ran_at: string;
  lateness_ms: number | null;
  action_id: string | null;
  run_state: RunState;
  attempts: number;
  action_status: string | null;
  summary: string;
}

/** One run's cells under HISTORY_COLUMNS; `time` shows an ISO time (the CLI's display zone; as stored by default). */
export function historyCells(r: HistoryLineInput, time: (iso: string) => string = (iso) => iso): string[] {
  return [
    r.manual ? 'manual (job run)' : time(r.slot),
    time(r.ran_at),
    r.lateness_ms === null ? '' : formatLateness(r.lateness_ms),
    r.action_id ?? '',
    runStatusLabel(r),
    r.summary,
  ];
}

/** One run as one `job history` row, its cells joined with ` | ` (unpadded: a line, not a table). */
export function historyLine(r: HistoryLineInput): string {
  return historyCells(r).join(' | ');
}
