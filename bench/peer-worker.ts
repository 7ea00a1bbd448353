/**
 * The peer in the side-by-side: BullMQ job schedulers on a redis-server the bench started,
 * run as its own process (the counterpart of the globus-timer daemon). On {type:'setup'}
 * it upserts one job scheduler per job on the bench's grid (`every` = the interval,
 * `startDate` = the job's anchor, `endDate` = the end of the window), then starts a Worker
 * whose processor POSTs `{request_id, body: {job, slot}}` to the loopback provider, with
 * an undici pool of the same size as the daemon's (16 sockets). The slot is the one BullMQ
 * scheduled the job for, read from the job id (`repeat:<scheduler id>:<millis>`).
 *
 * BullMQ schedules a scheduler's next iteration as soon as one starts and checks endDate
 * against the current time, so each scheduler produces one iteration past the window; the
 * processor drops those without a request (they are outside the measurement anyway).
 */
import { Queue, Worker, type Job } from 'bullmq';
import { Agent, request } from 'undici';

interface Setup {
  type: 'setup';
  port: number;
  providerUrl: string;
  n: number;
  intervalS: number;
  t0Ms: number;
  durationMs: number;
  concurrency: number;
  maxConnections: number;
}

let worker: Worker | undefined;
let agent: Agent | undefined;

function startOf(s: Setup, i: number): number {
  return s.t0Ms + Math.floor((i * s.intervalS * 1000) / s.n);
}

async function setup(s: Setup): Promise<void> {
  const connection = { host: '127.0.0.1', port: s.port, maxRetriesPerRequest: null };
  const t0 = performance.now();
  const queue = new Queue('bench', { connection });
  await queue.waitUntilReady();
  const endDate = s.t0Ms + s.durationMs - 1;
  const chunk = 500;
  for (let from = 0; from < s.n; from += chunk) {
    const upserts: Promise<unknown>[] = [];
    for (let i = from; i < Math.min(s.n, from + chunk); i++) {
      upserts.push(
        queue.upsertJobScheduler(
          `job-${i}`,
          { every: s.intervalS * 1000, startDate: startOf(s, i), endDate },
          { name: 'fire', data: { job: i }, opts: { removeOnComplete: true, removeOnFail: 1000 } },
        ),
      );
    }
    await Promise.all(upserts);
  }
  const upsertMs = performance.now() - t0;
  await queue.close();
  agent = new Agent({ connections: s.maxConnections, keepAliveTimeout: 10_000 });
  const dispatcher = agent;
  let failures = 0;
  worker = new Worker(
    'bench',
    async (job: Job<{ job: number }>) => {
      const id = job.id ?? '';
      const slot = Number(id.slice(id.lastIndexOf(':') + 1));
      if (slot > endDate) return 'after window';
      const res = await request(s.providerUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ request_id: id, body: { job: job.data.job, slot } }),
        dispatcher,
      });
      const text = await res.body.text();
      if (res.statusCode !== 200) {
        failures += 1;
        throw new Error(`provider answered ${res.statusCode}: ${text.slice(0, 200)}`);
      }
      return 'ok';
    },
    { connection, concurrency: s.concurrency },
  );
  worker.on('error', (err) => process.stderr.write(`worker error: ${err.message}\n`));
  await worker.waitUntilReady();
  process.send?.({ type: 'ready', upsert_ms: Math.round(upsertMs) });
  setInterval(() => failures && process.stderr.write(`provider failures: ${failures}\n`), 10_000).unref();
}

process.on('message', (msg: { type: string }) => {
  if (msg.type === 'setup') {
    setup(msg as Setup).catch((err: Error) => process.send?.({ type: 'error', message: err.stack ?? err.message }));
  } else if (msg.type === 'exit') {
    void (async () => {
      await worker?.close(true).catch(() => {});
      await agent?.close().catch(() => {});
      process.disconnect();
    })();
  }
});
process.on('disconnect', () => process.exit(0));
