/**
 * The API load generator of the `api` scenario, run as its own process (started by
 * bench/lib/api-client.ts with an IPC channel), so that neither its CPU nor its event loop
 * is the daemon's or the bench's.
 *
 * Open loop: request k is due at start + k / rate and is sent then, whether or not earlier
 * ones have been answered (a slow daemon does not slow the load down). Kinds follow the mix
 * by smooth weighted round-robin, so every kind is spread evenly over time (with
 * `get:89,create:10,list:1` a list goes out every 100th request, never two in a row):
 *   get     GET /jobs/{id} of a random job of the bench's grid
 *   create  POST /jobs/ of a TimerJob whose first run is a year away (no fire in the window),
 *           calling the bench's provider
 *   list    GET /jobs/ (every job)
 * over an undici Pool of `connections` keep-alive sockets, with the daemon's bearer token.
 * Each request's latency is from the time it was due until its response body was read in
 * full, so time spent queued in the pool (all sockets busy) counts, as a client would see it.
 *
 * IPC: {type:'setup', …} → after one checked GET of the first job (the token and the URL
 * work), {type:'ready'}; the load starts at `startAtMs` (wall clock). {type:'window', edge}
 * marks the measurement window's start and end (sending stops at the end). {type:'results',
 * waitMs} waits up to waitMs for answers still out, then answers {type:'results', ...ApiLoadStats}
 * over the requests due inside the window. {type:'exit'} closes the pool.
 */
import { Pool } from 'undici';

export type ApiKind = 'get' | 'create' | 'list';

export interface ApiLoadSetup {
  type: 'setup';
  baseUrl: string;
  token: string;
  /** Ids of existing jobs, for `get`. */
  ids: string[];
  providerUrl: string;
  rate: number;
  mix: [ApiKind, number][];
  connections: number;
  startAtMs: number;
}

interface KindStats {
  /** Requests due in the window, those answered 2xx, answered otherwise, failed without an answer, and still unanswered at the end. */
  sent: number;
  ok: number;
  non_2xx: number;
  errors: number;
  unfinished: number;
  /** Due → body read, over the answered ones. */
  latency_ms: { p50: number | null; p99: number | null; max: number | null };
  /** Mean response body size. */
  mean_bytes: number | null;
}

export interface ApiLoadStats {
  rate_asked: number;
  window_s: number;
  /** Requests due in the window per second, and answered (any status) per second. */
  sent_per_s: number;
  answered_per_s: number;
  non_2xx: number;
  errors: number;
  /** e.g. "503×2, ECONNRESET×1"; empty when every request succeeded. */
  failures: string;
  /** How late the generator itself sent a request after it was due (its own event loop), p99 and max. */
  send_lag_ms: { p99: number | null; max: number | null };
  /** Sockets the pool had open at the end. */
  sockets: number;
  total: KindStats;
  get: KindStats;
  create: KindStats;
  list: KindStats;
}

const now = () => performance.timeOrigin + performance.now();

const kindOf: ApiKind[] = [];
const due: number[] = [];
const sentAt: number[] = [];
const doneAt: number[] = [];
const status: number[] = [];
const bytes: number[] = [];
/** Why request i failed: its status when not 2xx, or the error's code when there was no answer. */
const failedWith: (string | undefined)[] = [];
let pool: Pool | undefined;
let timer: NodeJS.Timeout | undefined;
let sending = false;
let windowStart: number | undefined;
let windowEnd: number | undefined;
let outstanding = 0;
let drained: (() => void) | undefined;

/** Smooth weighted round-robin (as nginx balances upstreams): exact proportions, evenly spread. */
function picker(mix: [ApiKind, number][]): () => ApiKind {
  const total = mix.reduce((sum, [, w]) => sum + w, 0);
  const current = mix.map(() => 0);
  return () => {
    let best = 0;
    for (let i = 0; i < mix.length; i++) {
      current[i]! += mix[i]![1];
      if (current[i]! > current[best]!) best = i;
    }
    current[best]! -= total;
    return mix[best]![0];
  };
}

function start(s: ApiLoadSetup): void {
  const headers = { authorization: `Bearer ${s.token}`, accept: 'application/json' };
  const postHeaders = { ...headers, 'content-type': 'application/json' };
  const next = picker(s.mix);
  const period = 1000 / s.rate;
  const yearMs = 365 * 86_400_000;
  const t0 = Math.max(s.startAtMs, now());
  let k = 0;
  sending = true;
  const send = (i: number, kind: ApiKind) => {
    let path = '/jobs/';
    let method: 'GET' | 'POST' = 'GET';
    let body: string | undefined;
    if (kind === 'get') {
      path = `/jobs/${s.ids[Math.floor(Math.random() * s.ids.length)]}`;
    } else if (kind === 'create') {
      method = 'POST';
      // A naive UTC start, as globus-sdk's TimerJob example sends it.
      const startAt = new Date(Date.now() + yearMs).toISOString().slice(0, -1);
      body = JSON.stringify({ name: `api-load-${i}`, start: startAt, interval: 86_400, callback_url: s.providerUrl, callback_body: { body: { api: i } } });
    }
    sentAt[i] = now();
    outstanding += 1;
    pool!
      .request({ path, method, headers: body === undefined ? headers : postHeaders, ...(body === undefined ? {} : { body }) })
      .then(async (res) => {
        const buf = await res.body.arrayBuffer();
        doneAt[i] = now();
        status[i] = res.statusCode;
        bytes[i] = buf.byteLength;
        if (res.statusCode < 200 || res.statusCode > 299) failedWith[i] = String(res.statusCode);
      })
      .catch((err: NodeJS.ErrnoException) => {
        doneAt[i] = now();
        status[i] = 0;
        failedWith[i] = err.code ?? err.name ?? 'error';
      })
      .finally(() => {
        outstanding -= 1;
        if (outstanding === 0) drained?.();
      });
  };
  const tick = () => {
    const t = now();
    for (let dueAt = t0 + k * period; dueAt <= t && sending; dueAt = t0 + k * period) {
      const kind = next();
      kindOf[k] = kind;
      due[k] = dueAt;
      send(k, kind);
      k += 1;
    }
    if (sending) timer = setTimeout(tick, Math.max(0, t0 + k * period - now()));
  };
  timer = setTimeout(tick, Math.max(0, t0 - now()));
}

function stopSending(): void {
  sending = false;
  if (timer) clearTimeout(timer);
}

async function waitForAnswers(waitMs: number): Promise<void> {
  if (outstanding === 0) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, waitMs);
    drained = () => {
      clearTimeout(t);
      resolve();
    };
  });
}

/** Nearest-rank percentile of an ascending sample. */
function rank(sorted: Float64Array, q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
const r3 = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 1000);

function stats(rate: number): ApiLoadStats {
  const from = windowStart ?? -Infinity;
  const to = windowEnd ?? now();
  const windowS = Math.max(1e-9, (to - from) / 1000);
  const per = (want: ApiKind | null): KindStats => {
    const lat: number[] = [];
    let sent = 0;
    let ok = 0;
    let non2xx = 0;
    let errors = 0;
    let unfinished = 0;
    let byteSum = 0;
    for (let i = 0; i < due.length; i++) {
      if (due[i]! < from || due[i]! >= to || (want !== null && kindOf[i] !== want)) continue;
      sent += 1;
      const st = status[i];
      if (st === undefined) unfinished += 1;
      else if (st === 0) errors += 1;
      else {
        if (st >= 200 && st <= 299) ok += 1;
        else non2xx += 1;
        lat.push(doneAt[i]! - due[i]!);
        byteSum += bytes[i]!;
      }
    }
    const sorted = Float64Array.from(lat).sort();
    return {
      sent,
      ok,
      non_2xx: non2xx,
      errors,
      unfinished,
      latency_ms: { p50: r3(rank(sorted, 0.5)), p99: r3(rank(sorted, 0.99)), max: r3(rank(sorted, 1)) },
      mean_bytes: lat.length ? Math.round(byteSum / lat.length) : null,
    };
  };
  const lags: number[] = [];
  const failures = new Map<string, number>();
  for (let i = 0; i < due.length; i++) {
    if (due[i]! < from || due[i]! >= to) continue;
    lags.push(sentAt[i]! - due[i]!);
    const why = failedWith[i];
    if (why !== undefined) failures.set(why, (failures.get(why) ?? 0) + 1);
  }
  const lagSorted = Float64Array.from(lags).sort();
  const total = per(null);
  return {
    rate_asked: rate,
    window_s: Math.round(windowS * 1000) / 1000,
    sent_per_s: Math.round((total.sent / windowS) * 10) / 10,
    answered_per_s: Math.round(((total.ok + total.non_2xx) / windowS) * 10) / 10,
    non_2xx: total.non_2xx,
    errors: total.errors,
    failures: [...failures].map(([k, n]) => `${k}×${n}`).join(', '),
    send_lag_ms: { p99: r3(rank(lagSorted, 0.99)), max: r3(rank(lagSorted, 1)) },
    sockets: pool?.stats.connected ?? 0,
    total,
    get: per('get'),
    create: per('create'),
    list: per('list'),
  };
}

let setupMsg: ApiLoadSetup | undefined;

async function setup(s: ApiLoadSetup): Promise<void> {
  setupMsg = s;
  pool = new Pool(s.baseUrl, { connections: s.connections, pipelining: 1, headersTimeout: 120_000, bodyTimeout: 120_000 });
  // One checked request first: a wrong token or URL fails the run here, not as 10,000 401s.
  const res = await pool.request({ path: `/jobs/${s.ids[0]}`, method: 'GET', headers: { authorization: `Bearer ${s.token}`, accept: 'application/json' } });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`GET /jobs/${s.ids[0]} answered ${res.statusCode}: ${text.slice(0, 300)}`);
  start(s);
  process.send?.({ type: 'ready' });
}

process.on('message', (msg: { type: string; edge?: 'start' | 'end'; waitMs?: number }) => {
  if (msg.type === 'setup') {
    setup(msg as ApiLoadSetup).catch((err: Error) => process.send?.({ type: 'error', message: err.stack ?? err.message }));
  } else if (msg.type === 'window') {
    if (msg.edge === 'start') windowStart = now();
    else {
      windowEnd = now();
      stopSending();
    }
  } else if (msg.type === 'results') {
    stopSending();
    void waitForAnswers(msg.waitMs ?? 10_000).then(() => process.send?.({ type: 'results', ...stats(setupMsg?.rate ?? 0) }));
  } else if (msg.type === 'exit') {
    stopSending();
    void (async () => {
      await pool?.destroy().catch(() => {});
      process.disconnect();
    })();
  }
});
// The bench went away: do not outlive it.
process.on('disconnect', () => process.exit(0));
