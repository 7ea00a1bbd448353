/** A child process with an IPC channel, and request/answer helpers over it. */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { exited, isAlive, ROOT, spawnTracked, stopChild } from './procs.ts';

export interface IpcChild {
  proc: ChildProcess;
  /** Send `msg` and resolve with the first message of type `answer` (rejects if the child dies). */
  ask<T extends { type: string }>(msg: object, answer: string, timeoutMs?: number): Promise<T>;
  /** Resolve with the next message of type `type`. */
  next<T extends { type: string }>(type: string, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
  logFile: string;
}

/** Start `node [nodeArgs] --import tsx <script>` with an IPC channel; output goes to `logFile`. */
export function startIpcChild(script: string, logFile: string, env: NodeJS.ProcessEnv = process.env, nodeArgs: string[] = []): IpcChild {
  const fd = fs.openSync(logFile, 'a');
  const proc = spawnTracked(process.execPath, [...nodeArgs, '--import', 'tsx', path.join(ROOT, script)], {
    cwd: ROOT,
    env,
    stdio: ['ignore', fd, fd, 'ipc'],
  });
  fs.closeSync(fd);
  const next = <T extends { type: string }>(type: string, timeoutMs = 120_000) =>
    new Promise<T>((resolve, reject) => {
      const onMessage = (msg: { type?: string }) => {
        if (msg?.type === 'error') {
          done();
          reject(new Error(`${script}: ${(msg as { message?: string }).message ?? 'failed'}`));
        } else if (msg?.type === type) {
          done();
          resolve(msg as T);
        }
      };
      const onExit = (code: number | null, signal: string | null) => {
        done();
        reject(new Error(`${script} exited (${code ?? signal}) while waiting for "${type}"; see ${logFile}:\n${tail(logFile)}`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${script}: no "${type}" within ${timeoutMs} ms; see ${logFile}:\n${tail(logFile)}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        proc.off('message', onMessage);
        proc.off('exit', onExit);
      };
      proc.on('message', onMessage);
      proc.on('exit', onExit);
    });
  return {
    proc,
    logFile,
    next,
    ask: (msg, answer, timeoutMs) => {
      const reply = next(answer, timeoutMs);
      proc.send(msg);
      return reply as never;
    },
    stop: async () => {
      if (!isAlive(proc)) return;
      if (proc.connected) {
        proc.send({ type: 'exit' });
        const code = await Promise.race([exited(proc), new Promise((r) => setTimeout(r, 10_000, 'timeout'))]);
        if (code !== 'timeout') return;
      }
      await stopChild(proc, 'SIGTERM', 5_000);
    },
  };
}

export function tail(file: string, lines = 20): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}
