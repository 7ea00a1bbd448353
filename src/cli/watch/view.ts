/**
 * How watched runs are shown (issue 16). At a terminal: a live area, one line per run in
 * progress with its bar, redrawn in place (and every second, for the elapsed time); a run
 * that ends leaves its end line above it. Elsewhere: one line per change (`changeLine`),
 * or with `--format json` one JSON object per change: what a log or a script reads.
 */
import type { RunEvent } from '../../contract/protocol.ts';
import type { CliIo } from '../context.ts';
import { jsonForTerminal } from '../../util/printable.ts';
import { changeLine, endLine, liveLine } from './run-lines.ts';

export type ViewMode = 'terminal' | 'lines' | 'json';

/** Cursor to the start of the line `n` lines up, then clear to the end of the screen. */
const up = (n: number) => (n > 0 ? `\x1b[${n}F\x1b[J` : '');

export class WatchView {
  readonly #io: CliIo;
  readonly #mode: ViewMode;
  readonly #now: () => number;
  /** Runs in progress, by run id, as last told. */
  readonly #live = new Map<number, RunEvent>();
  /** What was last printed of each run (lines and json modes): a repeat is not printed again. */
  readonly #said = new Map<number, string>();
  /** Lines of the live area now on the screen (terminal mode). */
  #drawn = 0;
  /** A line under the live runs (`waiting for the next run …`), or null. */
  #note: string | null = null;
  #ticker: NodeJS.Timeout | null = null;

  constructor(io: CliIo, format: 'text' | 'json', now: () => number = Date.now) {
    this.#io = io;
    this.#mode = format === 'json' ? 'json' : io.terminalColumns ? 'terminal' : 'lines';
    this.#now = now;
    // The elapsed time moves on its own at a terminal; nothing is asked of the daemon for it.
    if (this.#mode === 'terminal') this.#ticker = setInterval(() => this.#redraw([]), 1000).unref();
  }

  /** A run changed: a new live line, or its end line once it has ended. */
  show(e: RunEvent): void {
    const ended = e.run.completed_at !== null;
    if (this.#mode !== 'terminal') {
      // Only what the run says, not when it was said: the same state told twice is one line.
      const key = JSON.stringify([e.run.run_state, e.run.action_status, e.run.attempts, e.progress, e.run.completed_at]);
      if (this.#said.get(e.run_id) === key) return;
      this.#said.set(e.run_id, key);
      if (ended) this.#said.delete(e.run_id);
      // JSON too goes through jsonForTerminal: a provider's text may hold terminal controls.
      this.#io.out(this.#mode === 'json' ? jsonForTerminal(JSON.stringify(e)) : changeLine(e, this.#now()));
      return;
    }
    if (ended) {
      this.#live.delete(e.run_id);
      this.#redraw([endLine(e)]);
    } else {
      this.#live.set(e.run_id, e);
      this.#redraw([]);
    }
  }

  /** A line under the runs at a terminal (replaced by the next note); elsewhere on stderr, once. */
  note(text: string | null): void {
    if (this.#mode === 'terminal') {
      this.#note = text;
      this.#redraw([]);
    } else if (text !== null) this.#io.err(`globus-timer: ${text}`);
  }

  /** Stop redrawing; what is on the screen stays. */
  close(): void {
    if (this.#ticker) clearInterval(this.#ticker);
    this.#ticker = null;
  }

  #redraw(above: string[]): void {
    const width = this.#io.terminalColumns ?? 80;
    const nowMs = this.#now();
    const live = [...this.#live.values()].map((e) => clip(liveLine(e, nowMs), width));
    if (this.#note !== null) live.push(clip(this.#note, width));
    const lines = [...above, ...live];
    const text = up(this.#drawn) + lines.join('\n');
    this.#drawn = live.length;
    if (lines.length > 0) this.#io.out(text);
    else if (text) this.#io.out(`${text}\x1b[1F`); // nothing left to draw: back to where the area began
  }
}

/** A line cut to the terminal's width (a wrapped live line would break the redraw). */
function clip(line: string, width: number): string {
  const chars = [...line];
  return chars.length < width ? line : `${chars.slice(0, width - 2).join('')}…`;
}
