/**
 * "Nothing fired" checks against a daemon on the real clock (a subprocess: there is no clock
 * to move). Waiting a fixed time and then finding nothing proves little on a loaded machine,
 * where the daemon may simply not have got that far. Instead a control job fires every second
 * at a provider of its own: the scheduler decides due slots earliest first, so once the
 * control job has fired a slot at or after `atMs`, every slot of every job due before `atMs`
 * has been decided, and a run wrongly fired for one of them was sent before the control's.
 */
import type { TestContext } from 'node:test';
import { requestIdFor } from '../../src/actions/request-id.ts';
import type { CliResult } from './env.ts';
import { startFakeProvider, type FakeProvider } from './provider.ts';

const INTERVAL_MS = 1_000;
/** Slots looked for past the first at or after `atMs`: a daemon running late fires the latest due one (coalescing). */
const SLOTS_LOOKED_FOR = 60;

export interface ControlJob {
  jobId: string;
  provider: FakeProvider;
  /** Resolves once the control job has fired a slot at or after `atMs` (its run request reached its provider). */
  firedAtOrAfter(atMs: number, timeoutMs?: number): Promise<void>;
}

/** Submit the control job (no scope, every second from the next whole second but one) through `cli`. */
export async function startControlJob(t: TestContext, cli: (args: string[]) => Promise<CliResult>): Promise<ControlJob> {
  const provider = await startFakeProvider();
  t.after(() => provider.close());
  provider.defaultRunReply = { kind: 'accept', httpStatus: 200, final: 'SUCCEEDED' }; // ends at once: never overlap-skipped
  const startMs = Math.ceil(Date.now() / INTERVAL_MS) * INTERVAL_MS + INTERVAL_MS;
  const args = ['job', 'submit', '--name', 'control', '--interval', String(INTERVAL_MS / 1000), '--start', new Date(startMs).toISOString()];
  const r = await cli([...args, '--action-url', provider.runUrl, '--action-body', '{"body": {"control": true}}', '--no-scope', '--format', 'json']);
  if (r.code !== 0) throw new Error(`submitting the control job failed (${r.code}): ${r.stderr}`);
  const jobId = (JSON.parse(r.stdout) as { job_id: string }).job_id;
  return {
    jobId,
    provider,
    async firedAtOrAfter(atMs, timeoutMs = 20_000) {
      // A run's request_id is derived from its job and slot, so the slots wanted are known before they fire.
      const first = Math.max(0, Math.ceil((atMs - startMs) / INTERVAL_MS));
      const wanted = new Set(Array.from({ length: SLOTS_LOOKED_FOR }, (_, i) => requestIdFor(jobId, startMs + (first + i) * INTERVAL_MS)));
      const fired = () => provider.runRequests().some((q) => wanted.has(String((q.body as { request_id?: unknown } | null)?.request_id)));
      for (const deadline = Date.now() + timeoutMs; !fired(); ) {
        if (Date.now() > deadline) throw new Error(`the control job fired no slot at or after ${new Date(atMs).toISOString()} within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
  };
}
