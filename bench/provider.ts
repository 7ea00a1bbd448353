/**
 * A loopback Action Provider for the bench, run as its own process (started by
 * bench/lib/provider-client.ts with an IPC channel). It is synchronous: every run request
 * is answered 200 with status SUCCEEDED at once, so the overlap rule never skips a slot;
 * release and status calls get 200 too.
 *
 * For each POST /run it records the receive time (when the request's headers were parsed:
 * `performance.timeOrigin + performance.now()`, sub-millisecond, on the wall-clock scale
 * of Date.now()), the request_id, and `body.job` / `body.slot` if the sender put them there.
 *
 * IPC: sends {type:'ready', port}; answers {type:'count'} with {type:'count', n} and
 * {type:'dump', file} with {type:'dumped', n} after writing one TSV line per request:
 * `t \t job \t slot \t request_id` (empty job/slot when absent).
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const times: number[] = [];
const jobs: (number | null)[] = [];
const slots: (number | null)[] = [];
const requestIds: string[] = [];
let badRequests = 0;

const now = () => performance.timeOrigin + performance.now();

function reply(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const server = http.createServer((req, res) => {
  const t = now();
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    if (req.method !== 'POST' || !req.url?.endsWith('/run')) {
      // release, status: nothing to record
      reply(res, 200, '{"status":"SUCCEEDED"}');
      return;
    }
    let doc: { request_id?: unknown; body?: { job?: unknown; slot?: unknown } };
    try {
      doc = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof doc;
    } catch {
      badRequests += 1;
      reply(res, 400, '{"code":"BadRequest"}');
      return;
    }
    const requestId = typeof doc.request_id === 'string' ? doc.request_id : '';
    times.push(t);
    jobs.push(typeof doc.body?.job === 'number' ? doc.body.job : null);
    slots.push(typeof doc.body?.slot === 'number' ? doc.body.slot : null);
    requestIds.push(requestId);
    reply(res, 200, JSON.stringify({ action_id: requestId || `a${times.length}`, status: 'SUCCEEDED', creator_id: 'bench', details: {} }));
  });
});
server.keepAliveTimeout = 120_000;
server.headersTimeout = 130_000;
server.maxRequestsPerSocket = 0;

server.listen(0, '127.0.0.1', () => {
  process.send?.({ type: 'ready', port: (server.address() as AddressInfo).port });
});

process.on('message', (msg: { type: string; file?: string }) => {
  if (msg.type === 'count') {
    process.send?.({ type: 'count', n: times.length, bad: badRequests });
  } else if (msg.type === 'dump' && msg.file) {
    const lines: string[] = [];
    for (let i = 0; i < times.length; i++) {
      lines.push(`${times[i]!.toFixed(3)}\t${jobs[i] ?? ''}\t${slots[i] ?? ''}\t${requestIds[i]}`);
    }
    fs.writeFileSync(msg.file, lines.join('\n'));
    process.send?.({ type: 'dumped', n: times.length, bad: badRequests });
  } else if (msg.type === 'exit') {
    server.closeAllConnections();
    server.close();
    process.disconnect();
  }
});
// The bench went away: do not outlive it.
process.on('disconnect', () => process.exit(0));
