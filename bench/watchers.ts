/**
 * The `watch` scenario's watchers (issue 16), in a process of their own so that reading the
 * events costs the bench nothing: `--rpc N` connections to the daemon's socket that each
 * subscribe to every job's events (as `job watch --all` does), and `--sse M` dashboard event
 * streams (`GET /events` with the API's token). On SIGTERM it prints what each received,
 * as one JSON line, and exits.
 *
 *   node --import tsx bench/watchers.ts SOCKET_PATH API_URL TOKEN RPC_COUNT SSE_COUNT
 */
import net from 'node:net';
import { request } from 'undici';

const [socketPath, apiUrl, token, rpcText, sseText] = process.argv.slice(2);
const rpcCount = Number(rpcText ?? 0);
const sseCount = Number(sseText ?? 0);

interface Counts {
  kind: 'rpc' | 'sse';
  bytes: number;
  /** Notifications (rpc) or `data:` messages (sse). */
  messages: number;
  /** Connected and subscribed: the daemon answered the subscribe, or the stream's 200. */
  ready: boolean;
  error: string | null;
}

const counts: Counts[] = [];

function rpcWatcher(): void {
  const c: Counts = { kind: 'rpc', bytes: 0, messages: 0, ready: false, error: null };
  counts.push(c);
  const sock = net.connect(socketPath!);
  let partial = '';
  sock.setEncoding('utf8');
  sock.on('connect', () => sock.write(`${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'events.subscribe', params: {} })}\n`));
  sock.on('data', (chunk: string) => {
    c.bytes += Buffer.byteLength(chunk);
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith('{"jsonrpc":"2.0","method"')) c.messages += 1;
      else if (line.includes('"id":1')) c.ready = !line.includes('"error"');
    }
  });
  sock.on('error', (err) => (c.error = err.message));
}

async function sseWatcher(): Promise<void> {
  const c: Counts = { kind: 'sse', bytes: 0, messages: 0, ready: false, error: null };
  counts.push(c);
  try {
    const url = new URL('/events', apiUrl);
    const res = await request(url, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } });
    c.ready = res.statusCode === 200;
    if (!c.ready) c.error = `HTTP ${res.statusCode}`;
    for await (const chunk of res.body) {
      const text = (chunk as Buffer).toString('utf8');
      c.bytes += (chunk as Buffer).length;
      c.messages += text.split('\n').filter((l) => l.startsWith('data:')).length;
    }
  } catch (err) {
    c.error = (err as Error).message;
  }
}

for (let i = 0; i < rpcCount; i++) rpcWatcher();
for (let i = 0; i < sseCount; i++) void sseWatcher();

process.on('SIGTERM', () => {
  process.stdout.write(`${JSON.stringify(counts)}\n`, () => process.exit(0));
});
// Ready once every watcher is: the bench waits for this line before the window opens.
const ready = setInterval(() => {
  if (counts.length === rpcCount + sseCount && counts.every((c) => c.ready || c.error)) {
    clearInterval(ready);
    process.stderr.write('watchers ready\n');
  }
}, 20);
