/**
 * Run one failure hook process (daemon/notify/failure-hooks.ts): a user's `/bin/sh -c CMD` or a
 * desktop notifier. In a process group of its own, so that its time limit ends whatever
 * it started too: SIGTERM to the group at the limit, SIGKILL `killGraceMs` later. Never
 * throws: a hook that cannot start (ENOENT: no shell, no notifier, no home directory) is an
 * outcome like any other, for the log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';

/** What is kept of each of stdout and stderr, for the log: a hook that prints megabytes does not fill it. */
export const HOOK_OUTPUT_CAP_BYTES = 8 * 1024;

export interface HookSpec {
  file: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  timeoutMs: number;
  killGraceMs: number;
}

export interface HookOutcome {
  /** Null when it was killed by a signal, or never started. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Stopped at its time limit (or by the daemon stopping). */
  timedOut: boolean;
  durationMs: number;
  /** The start of its output, at most HOOK_OUTPUT_CAP_BYTES each, and how much more there was. */
  stdout: string;
  stderr: string;
  droppedBytes: number;
  /** Why it could not start (`ENOENT`, `EACCES`, …); null when it ran. */
  startError: string | null;
}

export interface RunningHook {
  done: Promise<HookOutcome>;
  /** End it now (the daemon stops): SIGTERM to its group, SIGKILL after `graceMs` (default: the spec's). */
  stop(graceMs?: number): void;
}

class Capped {
  readonly #chunks: Buffer[] = [];
  #kept = 0;
  dropped = 0;

  add(chunk: Buffer): void {
    const room = HOOK_OUTPUT_CAP_BYTES - this.#kept;
    if (room > 0) {
      const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
      this.#chunks.push(part);
      this.#kept += part.length;
    }
    this.dropped += Math.max(0, chunk.length - Math.max(0, room));
  }

  text(): string {
    return Buffer.concat(this.#chunks).toString('utf8').trimEnd();
  }
}

export function runHook(spec: HookSpec): RunningHook {
  const startedAt = performance.now();
  const out = new Capped();
  const err = new Capped();
  let timedOut = false;
  let child: ChildProcess;
  const outcome = (exitCode: number | null, signal: NodeJS.Signals | null, startError: string | null): HookOutcome => ({
    exitCode,
    signal,
    timedOut,
    durationMs: Math.round(performance.now() - startedAt),
    stdout: out.text(),
    stderr: err.text(),
    droppedBytes: out.dropped + err.dropped,
    startError,
  });
  try {
    // detached: a new process group (and session), killed as one; no terminal to read from.
    child = spawn(spec.file, spec.args, { cwd: spec.cwd, env: spec.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    // Arguments spawn refuses outright (a NUL byte): checked at submit, so only a bug gets here.
    const code = (e as NodeJS.ErrnoException).code ?? 'ERR_SPAWN';
    return { done: Promise.resolve(outcome(null, null, code)), stop: () => {} };
  }
  let killTimer: NodeJS.Timeout | null = null;
  const signalGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // ESRCH: the group has ended already.
    }
  };
  const stop = (graceMs = spec.killGraceMs) => {
    if (killTimer) return;
    timedOut = true;
    signalGroup('SIGTERM');
    killTimer = setTimeout(() => {
      signalGroup('SIGKILL');
      // A process that left the group (setsid) may still hold the pipes: stop reading them, so the hook ends.
      child.stdout?.destroy();
      child.stderr?.destroy();
    }, graceMs);
  };
  const limit = setTimeout(() => stop(), spec.timeoutMs);
  const done = new Promise<HookOutcome>((resolve) => {
    let settled = false;
    const settle = (o: HookOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(limit);
      if (killTimer) clearTimeout(killTimer);
      resolve(o);
    };
    (child.stdout as Readable).on('data', (c: Buffer) => out.add(c));
    (child.stderr as Readable).on('data', (c: Buffer) => err.add(c));
    child.on('error', (e: NodeJS.ErrnoException) => settle(outcome(null, null, e.code ?? e.message)));
    child.on('close', (code, signal) => settle(outcome(code, signal, null)));
  });
  return { done, stop };
}
