/** Start the API load generator process (bench/api-load.ts) and talk to it. */
import path from 'node:path';
// Types only: importing the generator's module would run it here.
import type { ApiKind, ApiLoadSetup, ApiLoadStats } from '../api-load.ts';
import { startIpcChild, tail, type IpcChild } from './ipc.ts';

const API_KINDS: readonly ApiKind[] = ['get', 'create', 'list'];

/** What the `api` scenario asks of the load generator. */
export interface ApiLoadOptions {
  /** Requests per second, open loop. */
  rate: number;
  /** Kinds and their weights, e.g. [['get', 85], ['create', 10], ['list', 5]]. */
  mix: [ApiKind, number][];
  /** Keep-alive sockets of its undici pool. */
  connections: number;
  /** How long requests still out after the window (and the drain) may take to be answered. */
  answerWaitMs: number;
}

/** `get:89,create:10,list:1` → [['get', 85], …]; throws on an unknown kind or a weight that is not a positive number. */
export function parseApiMix(text: string): [ApiKind, number][] {
  const mix = text.split(',').map((part): [ApiKind, number] => {
    const [kind, weight] = part.split(':').map((s) => s.trim());
    const w = Number(weight);
    if (!(API_KINDS as readonly string[]).includes(kind ?? '') || !Number.isFinite(w) || w < 0) {
      throw new Error(`"${part}" is not kind:weight with kind one of ${API_KINDS.join(', ')} and weight ≥ 0`);
    }
    return [kind as ApiKind, w];
  });
  if (!mix.some(([, w]) => w > 0)) throw new Error('no kind has a weight above 0');
  return mix.filter(([, w]) => w > 0);
}

export const mixText = (mix: [ApiKind, number][]) => mix.map(([k, w]) => `${k}:${w}`).join(',');

export interface ApiLoad {
  pid: number | undefined;
  /** Hand it the API and the ids; resolves once a first request succeeded and the load is scheduled to start at `startAtMs`. */
  setup(s: Omit<ApiLoadSetup, 'type'>): Promise<void>;
  window(edge: 'start' | 'end'): void;
  /** Stop sending, wait up to `waitMs` for answers still out, and report the requests due in the window. */
  results(waitMs: number): Promise<ApiLoadStats>;
  stop(): Promise<void>;
}

/** Spawned early (its start-up overlaps the daemon's); the load starts with `setup`. */
export function startApiLoad(dir: string): ApiLoad {
  const child: IpcChild = startIpcChild('bench/api-load.ts', path.join(dir, 'api-load.log'));
  return {
    pid: child.proc.pid,
    setup: async (s) => void (await child.ask<{ type: 'ready' }>({ type: 'setup', ...s }, 'ready', 60_000)),
    window: (edge) => {
      if (child.proc.connected) child.proc.send({ type: 'window', edge });
    },
    results: async (waitMs) => {
      if (!child.proc.connected) throw new Error(`the API load generator exited early; see ${child.logFile}:\n${tail(child.logFile)}`);
      const { type: _type, ...stats } = await child.ask<{ type: 'results' } & ApiLoadStats>({ type: 'results', waitMs }, 'results', waitMs + 60_000);
      return stats;
    },
    stop: () => child.stop(),
  };
}
