/** Start the loopback Action Provider process (bench/provider.ts) and read what it saw. */
import fs from 'node:fs';
import path from 'node:path';
import { startIpcChild, type IpcChild } from './ipc.ts';

export interface FireRecord {
  /** Receive time at the provider, epoch ms with sub-ms precision. */
  t: number;
  job: number | null;
  slot: number | null;
  requestId: string;
}

export interface Provider {
  /** The run URL: http://127.0.0.1:PORT/run */
  url: string;
  pid: number | undefined;
  count(): Promise<number>;
  /** Every /run request so far. */
  records(): Promise<{ records: FireRecord[]; bad: number }>;
  stop(): Promise<void>;
}

export async function startProvider(dir: string): Promise<Provider> {
  const child: IpcChild = startIpcChild('bench/provider.ts', path.join(dir, 'provider.log'));
  const { port } = await child.next<{ type: 'ready'; port: number }>('ready', 30_000);
  return {
    url: `http://127.0.0.1:${port}/run`,
    pid: child.proc.pid,
    count: async () => (await child.ask<{ type: 'count'; n: number }>({ type: 'count' }, 'count')).n,
    records: async () => {
      const file = path.join(dir, 'provider-records.tsv');
      const { bad } = await child.ask<{ type: 'dumped'; n: number; bad: number }>({ type: 'dump', file }, 'dumped');
      return { records: readRecords(file), bad };
    },
    stop: () => child.stop(),
  };
}

function readRecords(file: string): FireRecord[] {
  const text = fs.readFileSync(file, 'utf8');
  if (!text) return [];
  return text.split('\n').map((line) => {
    const [t, job, slot, requestId] = line.split('\t');
    return {
      t: Number(t),
      job: job ? Number(job) : null,
      slot: slot ? Number(slot) : null,
      requestId: requestId ?? '',
    };
  });
}
