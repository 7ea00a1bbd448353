/**
 * The Timers REST API at the door (issue 14 item 9), for the bad-input and security
 * scenarios: raw HTTP exchanges over TCP (so that any byte can be sent: bad framing, NUL
 * bytes, invalid UTF-8, a byte a second), the judgement of an answer (a 4xx is JSON, never a
 * 5xx, never a hang), a valid client that keeps asking while the door is hammered, the
 * pre-existing jobs' documents before and after, and how the jobs fired meanwhile (lateness
 * and missed slots, over RPC).
 */
import net from 'node:net';
import { sleep } from '../../bench/lib/procs.ts';
import type { RpcClient } from '../../src/contract/client.ts';
import type { HistoryPage } from '../../src/contract/protocol.ts';

export interface ApiDoor {
  url: string;
  host: string;
  port: number;
  token: string;
}

export function apiDoor(url: string, token: string): ApiDoor {
  const u = new URL(url);
  return { url, host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port), token };
}

export interface RawAnswer {
  /** The final status (1xx interim answers skipped); null when none came. */
  status: number | null;
  /** Lower-cased names. */
  headers: Record<string, string>;
  body: string;
  /** The server ended the connection (FIN or reset) before we let go. */
  closed: boolean;
  /** The connection was reset (ECONNRESET/EPIPE) rather than ended. */
  reset: boolean;
  /** Nothing complete came before the deadline. */
  timedOut: boolean;
  ms: number;
  /** Bytes of the request actually written before the server stopped taking them. */
  sent: number;
}

export interface RawOptions {
  timeoutMs: number;
  /** After a complete answer, wait this long for the server to close the connection (0: let go at once). */
  closeWaitMs?: number;
  /** Half-close our side once everything is written. */
  end?: boolean;
  /** Pause between the chunks (a slow client). */
  chunkDelayMs?: number;
  /** Keep reading answers until this many have come (pipelining); the last is returned, all in `all`. */
  answers?: number;
}

/** One HTTP exchange over a fresh TCP connection, byte for byte as given. */
export function rawExchange(
  door: Pick<ApiDoor, 'host' | 'port'>,
  chunks: readonly (string | Buffer)[],
  opts: RawOptions,
): Promise<RawAnswer & { all: RawAnswer[] }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const sock = net.connect({ host: door.host, port: door.port });
    let buf = Buffer.alloc(0);
    const all: RawAnswer[] = [];
    let closed = false;
    let reset = false;
    let sent = 0;
    let done = false;
    let closeTimer: NodeJS.Timeout | undefined;
    const wanted = opts.answers ?? 1;
    const base = (): RawAnswer => ({ status: null, headers: {}, body: '', closed, reset, timedOut: false, ms: performance.now() - t0, sent });
    const finish = (timedOut: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      clearTimeout(closeTimer);
      sock.destroy();
      const last = all.at(-1);
      const answer = last ? { ...last, closed, reset, sent, timedOut: timedOut && all.length < wanted } : { ...base(), timedOut };
      resolve({ ...answer, all });
    };
    const deadline = setTimeout(() => finish(true), opts.timeoutMs);
    /** Parse every complete answer in buf. */
    const parse = () => {
      for (;;) {
        const headEnd = buf.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const head = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
        const status = Number(/^HTTP\/\d\.\d (\d{3})/.exec(head[0] ?? '')?.[1] ?? Number.NaN);
        const headers: Record<string, string> = {};
        for (const line of head.slice(1)) {
          const i = line.indexOf(':');
          if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
        }
        const length = headers['content-length'] === undefined ? null : Number(headers['content-length']);
        if (status >= 100 && status < 200) {
          buf = buf.subarray(headEnd + 4);
          continue;
        }
        let body: Buffer;
        if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
          const decoded = dechunk(buf.subarray(headEnd + 4));
          if (!decoded) {
            if (!closed) return;
            body = buf.subarray(headEnd + 4);
            headers['x-torture-short-body'] = 'the chunked body ended early';
            buf = Buffer.alloc(0);
          } else {
            body = decoded.body;
            buf = buf.subarray(headEnd + 4 + decoded.used);
          }
        } else if (length !== null) {
          if (buf.length < headEnd + 4 + length) return;
          body = buf.subarray(headEnd + 4, headEnd + 4 + length);
          buf = buf.subarray(headEnd + 4 + length);
        } else {
          // No length (a bare answer of node's own): the body runs to the close.
          if (!closed) return;
          body = buf.subarray(headEnd + 4);
          buf = Buffer.alloc(0);
        }
        all.push({
          status: Number.isFinite(status) ? status : -1,
          headers,
          body: body.toString('utf8'),
          closed,
          reset,
          timedOut: false,
          ms: performance.now() - t0,
          sent,
        });
        if (all.length >= wanted) {
          const wait = opts.closeWaitMs ?? 0;
          if (closed || wait <= 0) finish(false);
          else closeTimer ??= setTimeout(() => finish(false), wait);
          return;
        }
      }
    };
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      parse();
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') reset = true;
      closed = true;
      parse();
      finish(false);
    });
    sock.on('end', () => {
      closed = true;
      parse();
      if (all.length >= wanted || buf.indexOf('\r\n\r\n') < 0) finish(false);
    });
    sock.on('close', () => {
      closed = true;
      parse();
      finish(false);
    });
    sock.once('connect', async () => {
      for (const [i, chunk] of chunks.entries()) {
        if (done || closed || sock.destroyed) return;
        if (i > 0 && opts.chunkDelayMs) await sleep(opts.chunkDelayMs);
        if (done || closed || sock.destroyed) return;
        const ok = sock.write(chunk);
        sent += chunk.length;
        if (!ok)
          await new Promise<void>((r) => {
            const go = () => {
              sock.off('drain', go);
              sock.off('close', go);
              r();
            };
            sock.once('drain', go);
            sock.once('close', go);
          });
      }
      if (opts.end && !done && !sock.destroyed) sock.end();
    });
  });
}

/** A complete chunked body at the start of `b` (trailers skipped): the body and the bytes used; null when not all there yet. */
function dechunk(b: Buffer): { body: Buffer; used: number } | null {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = b.indexOf('\r\n', at);
    if (eol < 0) return null;
    const size = Number.parseInt(b.subarray(at, eol).toString('latin1').split(';')[0]!.trim(), 16);
    if (!Number.isFinite(size)) return null;
    if (size === 0) {
      const end = b.indexOf('\r\n\r\n', eol);
      if (end === eol) return { body: Buffer.concat(parts), used: eol + 4 };
      const plain = b.indexOf('\r\n', eol + 2);
      if (plain === eol + 2) return { body: Buffer.concat(parts), used: eol + 4 };
      return end < 0 ? null : { body: Buffer.concat(parts), used: end + 4 };
    }
    if (b.length < eol + 2 + size + 2) return null;
    parts.push(b.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

export interface RequestParts {
  method: string;
  path: string;
  /** Authorization header value; null: none. Default: `Bearer <door token>`. */
  auth?: string | null;
  /** Extra header lines, as sent (no CRLF). */
  headerLines?: string[];
  body?: string | Buffer;
  /** Content-Type header value; null: none. Default application/json when there is a body. */
  contentType?: string | null;
  /** Content-Length header value; null: none. Default: the body's length when there is one. */
  contentLength?: string | number | null;
  /** Connection header value; null: none (HTTP/1.1: keep-alive). Default `close`. */
  connection?: string | null;
  /** Host header value; null: none. */
  hostHeader?: string | null;
  version?: string;
}

/** The bytes of one request. */
export function httpRequest(door: ApiDoor, p: RequestParts): Buffer {
  const body = p.body === undefined ? undefined : Buffer.isBuffer(p.body) ? p.body : Buffer.from(p.body, 'utf8');
  const lines = [`${p.method} ${p.path} ${p.version ?? 'HTTP/1.1'}`];
  const host = p.hostHeader === undefined ? `${door.host}:${door.port}` : p.hostHeader;
  if (host !== null) lines.push(`Host: ${host}`);
  const auth = p.auth === undefined ? `Bearer ${door.token}` : p.auth;
  if (auth !== null) lines.push(`Authorization: ${auth}`);
  const connection = p.connection === undefined ? 'close' : p.connection;
  if (connection !== null) lines.push(`Connection: ${connection}`);
  const type = p.contentType === undefined ? (body ? 'application/json' : null) : p.contentType;
  if (type !== null) lines.push(`Content-Type: ${type}`);
  const length = p.contentLength === undefined ? (body ? body.length : null) : p.contentLength;
  if (length !== null) lines.push(`Content-Length: ${length}`);
  lines.push(...(p.headerLines ?? []));
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body ?? Buffer.alloc(0)]);
}

/** A valid call, as any client makes it: its status and parsed JSON (null when not JSON). */
export async function apiCall(
  door: ApiDoor,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 10_000,
): Promise<{ status: number | null; json: unknown; ms: number; timedOut: boolean }> {
  const a = await rawExchange(door, [httpRequest(door, { method, path, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })], { timeoutMs });
  let json: unknown = null;
  try {
    json = JSON.parse(a.body);
  } catch {
    json = null;
  }
  return { status: a.status, json, ms: a.ms, timedOut: a.timedOut };
}

// ---------------------------------------------------------------------------------------
// Judging answers

/** What an answer may be. */
export type Expect =
  /** A valid request: 2xx (or exactly `status`). */
  | 'ok'
  /** An invalid one: 4xx JSON (or exactly `status`). */
  | '4xx'
  /** It may be valid or not: 2xx, or 4xx JSON. */
  | 'any';

export interface Judged {
  /** Problem category (grouped in the report), or null when the answer is right. */
  category: string | null;
  detail: string;
}

/**
 * An answer against what it may be: never a 5xx, never a hang, a 4xx always JSON with a JSON
 * Content-Type; `mayClose`: a closed connection without an answer is right too (a request
 * whose framing can never complete, or whose excess the server refuses to read).
 */
export function judge(a: RawAnswer, expect: Expect, opts: { status?: number; mayClose?: boolean } = {}): Judged {
  const got = a.status === null ? (a.timedOut ? 'no answer (hang)' : a.reset ? 'reset without an answer' : 'closed without an answer') : `${a.status}`;
  const detail = `${got} after ${Math.round(a.ms)} ms${a.body ? `: ${JSON.stringify(a.body.slice(0, 160))}` : ''}`;
  if (a.status === null) {
    if (a.timedOut) return { category: 'no answer before the deadline (a hang)', detail };
    return opts.mayClose ? { category: null, detail } : { category: 'connection closed without an answer', detail };
  }
  if (a.status >= 500) return { category: 'answered 5xx', detail };
  if (opts.status !== undefined && a.status !== opts.status) return { category: `not answered ${opts.status}`, detail };
  const ok2xx = a.status >= 200 && a.status < 300;
  const is4xx = a.status >= 400 && a.status < 500;
  if (!ok2xx && !is4xx) return { category: `answered ${a.status} (neither 2xx nor 4xx)`, detail };
  if (expect === 'ok' && !ok2xx) return { category: 'a valid request refused', detail };
  if (expect === '4xx' && !is4xx) return { category: 'an invalid request accepted (2xx)', detail };
  if (!/^application\/json\b/i.test(a.headers['content-type'] ?? '')) return { category: `answered ${a.status} without Content-Type application/json`, detail };
  try {
    JSON.parse(a.body);
  } catch {
    return { category: `answered ${a.status} with a body that is not JSON`, detail };
  }
  return { category: null, detail };
}

/** Problems grouped by category, a few examples each: one violation line per category. */
export class Tally {
  readonly counts = new Map<string, number>();
  readonly examples = new Map<string, string[]>();
  readonly statuses = new Map<string, number>();
  total = 0;
  add(what: string, j: Judged, status: number | null): void {
    this.total += 1;
    const s = status === null ? 'none' : String(status);
    this.statuses.set(s, (this.statuses.get(s) ?? 0) + 1);
    if (!j.category) return;
    this.counts.set(j.category, (this.counts.get(j.category) ?? 0) + 1);
    const ex = this.examples.get(j.category) ?? this.examples.set(j.category, []).get(j.category)!;
    if (ex.length < 4) ex.push(`${what} → ${j.detail}`);
  }
  violations(prefix: string): string[] {
    return [...this.counts].map(([cat, n]) => `${prefix}: ${n} of ${this.total} requests ${cat}, e.g. ${this.examples.get(cat)!.join(' | ')}`);
  }
  statusLine(): string {
    return [...this.statuses]
      .sort((a, b) => b[1] - a[1])
      .map(([s, n]) => `${s}×${n}`)
      .join(' ');
  }
}

// ---------------------------------------------------------------------------------------
// A valid client meanwhile

/** A valid client asking `path` every `everyMs` until stopped: each answer 200 within `limitMs`. */
export function startProbe(door: ApiDoor, path: string, everyMs = 250, limitMs = 3_000) {
  let stop = false;
  const latencies: number[] = [];
  const failures: string[] = [];
  const loop = (async () => {
    while (!stop) {
      const t0 = performance.now();
      const a = await rawExchange(door, [httpRequest(door, { method: 'GET', path })], { timeoutMs: limitMs });
      const ms = performance.now() - t0;
      if (a.status === 200) latencies.push(ms);
      else failures.push(`${a.status ?? (a.timedOut ? `no answer within ${limitMs} ms` : 'closed')} at +${Math.round(ms)} ms`);
      await sleep(everyMs);
    }
  })();
  return {
    async stop(): Promise<{ answered: number; failures: string[]; maxMs: number; p50Ms: number }> {
      stop = true;
      await loop;
      const sorted = [...latencies].sort((a, b) => a - b);
      return { answered: latencies.length, failures, maxMs: Math.round(sorted.at(-1) ?? 0), p50Ms: Math.round(sorted[Math.floor(sorted.length / 2)] ?? 0) };
    },
  };
}

// ---------------------------------------------------------------------------------------
// The jobs before and after

/** What firing changes in a V1 document: everything else must stay as it was. */
const VOLATILE = ['last_ran_at', 'next_run', 'n_runs', 'n_errors', 'results', 'activity'];

/** Every listed job's V1 document without what firing changes, by id. */
export async function apiJobDocs(door: ApiDoor): Promise<Map<string, string>> {
  const r = await apiCall(door, 'GET', '/jobs/', undefined, 30_000);
  const jobs = (r.json as { jobs?: Record<string, unknown>[] } | null)?.jobs;
  if (r.status !== 200 || !Array.isArray(jobs)) throw new Error(`GET /jobs/ with the valid token: ${r.status ?? 'no answer'}`);
  return new Map(jobs.map((j) => [String(j.job_id), JSON.stringify(Object.fromEntries(Object.entries(j).filter(([k]) => !VOLATILE.includes(k))))]));
}

/** Jobs of `ids` whose document changed or vanished between `before` and `after`. */
export function changedJobs(ids: readonly string[], before: Map<string, string>, after: Map<string, string>): string[] {
  const out: string[] = [];
  for (const id of ids) {
    const was = before.get(id);
    const now = after.get(id);
    if (was === undefined) continue;
    if (now === undefined) out.push(`job ${id} is no longer listed`);
    else if (now !== was) out.push(`job ${id}: ${was.slice(0, 300)} → ${now.slice(0, 300)}`);
  }
  return out;
}

export interface FiringWindow {
  runs: number;
  missedSlots: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
}

/**
 * Asked over RPC, never by opening the database while the daemon runs: a second process
 * opening it (even read-only) has been seen to kill the daemon with SIGBUS (reported).
 */
type Connect = () => Promise<RpcClient>;

/** Slots of `ids` counted missed so far. */
export async function missedSlots(connect: Connect, ids: readonly string[]): Promise<number> {
  const client = await connect();
  try {
    let missed = 0;
    for (const id of ids) missed += (await client.call('job.get', { job_id: id })).skipped_slots.missed;
    return missed;
  } finally {
    client.close();
  }
}

/** Scheduled runs of `ids` fired since `fromMs`: how late (fired_at − slot), and the slots missed since `missedBefore` was counted. */
export async function firing(connect: Connect, ids: readonly string[], fromMs: number, missedBefore: number): Promise<FiringWindow> {
  const late: number[] = [];
  const client = await connect();
  try {
    const since = new Date(fromMs).toISOString();
    for (const id of ids) {
      let cursor: string | null = null;
      do {
        const page: HistoryPage = await client.call('job.history', { job_id: id, limit: 1000, cursor, since });
        for (const r of page.runs) if (!r.manual && r.lateness_ms !== null) late.push(r.lateness_ms);
        cursor = page.next_cursor;
      } while (cursor);
    }
  } finally {
    client.close();
  }
  late.sort((a, b) => a - b);
  const at = (q: number) => (late.length ? late[Math.min(late.length - 1, Math.floor(q * late.length))]! : null);
  return { runs: late.length, missedSlots: (await missedSlots(connect, ids)) - missedBefore, p50: at(0.5), p99: at(0.99), max: late.at(-1) ?? null };
}

/**
 * The jobs kept firing on time while the door was hammered: some fired, none missed, p99
 * lateness within `limitMs`. Returns violations; the numbers go to `notes`.
 */
export function judgeFiring(what: string, f: FiringWindow, limitMs: number, notes: string[]): string[] {
  notes.push(`${what}: ${f.runs} scheduled runs fired meanwhile, lateness p50 ${f.p50} p99 ${f.p99} max ${f.max} ms, ${f.missedSlots} slots missed`);
  const out: string[] = [];
  if (f.runs === 0) out.push(`${what}: no job fired meanwhile`);
  if (f.missedSlots > 0) out.push(`${what}: ${f.missedSlots} slots of the jobs were missed meanwhile`);
  if (f.p99 !== null && f.p99 > limitMs) out.push(`${what}: the jobs fired late meanwhile: p99 lateness ${f.p99} ms (max ${f.max} ms), above ${limitMs} ms`);
  return out;
}

/** Run `tasks` with at most `n` at once. */
export async function pool<T>(items: readonly T[], n: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(n, items.length)) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}
