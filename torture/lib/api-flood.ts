/**
 * The REST API under attack, for the security scenario (issue 14 item 9): wrong tokens at a
 * high rate (missing, malformed, almost right, in the wrong place; at every route, many
 * connections at once), each answered 401 as JSON with `WWW-Authenticate: Bearer` and the
 * connection closed, never a route's answer; connections held open without a byte; slow
 * clients that send a byte a second (in the headers, or in a body) cut off by the server's
 * timeouts; and meanwhile a valid client answered promptly throughout.
 */
import net from 'node:net';
import { sleep } from '../../bench/lib/procs.ts';
import { type ApiDoor, httpRequest, judge, pool, rawExchange, startProbe, Tally } from './api.ts';
import { mulberry32 } from './util.ts';

/**
 * The server's limits (src/daemon/api/server.ts DEFAULT_TIMEOUTS: headers 10 s, request
 * 30 s, checked every 1 s). The daemon has no knob to shorten them, so slow clients take
 * that long: they are left out of the quick size.
 */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
const CHECK_INTERVAL_MS = 1_000;
/** Slack on top of a limit before a connection still open counts as not cut off. */
const SLACK_MS = 4_000;

export interface FloodInput {
  door: ApiDoor;
  /** Pre-existing jobs: the wrong-token requests aim at them. */
  jobIds: readonly string[];
  runUrl: string;
  requests: number;
  clients: number;
  /** Connections opened and left idle (no byte) while the flood runs. */
  held: number;
  /** Slow clients (half in the headers, half in a body), a byte a second; 0: none. */
  slow: number;
  seed: number;
  log: (line: string) => void;
}

export interface FloodOutput {
  violations: string[];
  notes: string[];
  /** Every wrong token sent (to look for in the logs). */
  wrongTokens: string[];
}

function flip(token: string, i: number): string {
  const c = token[i]!;
  return token.slice(0, i) + (c === 'A' ? 'B' : 'A') + token.slice(i + 1);
}

/** Authorization header values (or other places) that must all be refused. */
function wrongAuths(token: string, r: () => number): { what: string; auth: string | null; extra?: string[]; query?: string }[] {
  const i = Math.floor(r() * token.length);
  return [
    { what: 'no Authorization', auth: null },
    { what: 'empty Authorization', auth: '' },
    { what: '"Bearer"', auth: 'Bearer' },
    { what: '"Bearer " and nothing', auth: 'Bearer ' },
    { what: 'a random token', auth: `Bearer ${Buffer.from(Array.from({ length: 32 }, () => Math.floor(r() * 256))).toString('base64url')}` },
    { what: 'one character changed', auth: `Bearer ${flip(token, i)}` },
    { what: 'the last character dropped', auth: `Bearer ${token.slice(0, -1)}` },
    { what: 'the first character dropped', auth: `Bearer ${token.slice(1)}` },
    { what: 'one character added', auth: `Bearer ${token}A` },
    { what: 'upper-cased', auth: `Bearer ${token.toUpperCase()}` },
    { what: 'the token twice', auth: `Bearer ${token} ${token}` },
    { what: 'the token quoted', auth: `Bearer "${token}"` },
    { what: 'the token base64-encoded again', auth: `Bearer ${Buffer.from(token).toString('base64')}` },
    { what: 'no scheme', auth: token },
    { what: 'Basic scheme', auth: `Basic ${Buffer.from(`user:${token}`).toString('base64')}` },
    { what: 'Token scheme', auth: `Token ${token}` },
    { what: 'Bearer= form', auth: `Bearer=${token}` },
    { what: 'a NUL inside', auth: `Bearer ${token.slice(0, 10)}\u0000${token.slice(10)}` },
    { what: 'the token in the query', auth: null, query: `access_token=${token}` },
    { what: 'the token in a cookie', auth: null, extra: [`Cookie: token=${token}; access_token=${token}`] },
    { what: 'the token in X-Authorization', auth: 'Bearer wrong', extra: [`X-Authorization: Bearer ${token}`] },
    { what: 'a wrong Authorization, then the right one', auth: 'Bearer wrong', extra: [`Authorization: Bearer ${token}`] },
  ];
}

export async function apiFlood(inp: FloodInput): Promise<FloodOutput> {
  const out: FloodOutput = { violations: [], notes: [], wrongTokens: [] };
  const { door } = inp;
  const r = mulberry32(inp.seed);
  const auths = wrongAuths(door.token, r);
  for (const a of auths) {
    const m = /^\S+[ =](.+)$/.exec(a.auth ?? '');
    const t = m?.[1] ?? a.auth;
    if (t && t.length >= 16 && t !== door.token) out.wrongTokens.push(t);
  }
  const id = () => inp.jobIds[Math.floor(r() * inp.jobIds.length)]!;
  const job = JSON.stringify({
    name: 'made by a stranger',
    start: '2099-01-01T00:00:00Z',
    interval: 60,
    callback_url: inp.runUrl,
    callback_body: { body: {} },
  });
  const routes = (): { method: string; path: string; body?: string }[] => {
    const j = id();
    return [
      { method: 'GET', path: '/jobs/' },
      { method: 'GET', path: `/jobs/${j}` },
      { method: 'DELETE', path: `/jobs/${j}` },
      { method: 'POST', path: `/jobs/${j}/pause` },
      { method: 'POST', path: `/jobs/${j}/resume` },
      { method: 'PATCH', path: `/jobs/${j}`, body: JSON.stringify({ name: 'renamed by a stranger' }) },
      { method: 'POST', path: '/jobs/', body: job },
      { method: 'GET', path: '/openapi.json' },
      { method: 'GET', path: '/no/such/route' },
    ];
  };

  const probe = startProbe(door, `/jobs/${id()}`);
  // Connections held open without a byte, for the whole flood (and the slow part after it).
  const held: { sock: net.Socket; closedAfterMs: number | null }[] = [];
  const heldT0 = performance.now();
  await Promise.all(
    Array.from(
      { length: inp.held },
      () =>
        new Promise<void>((resolve) => {
          const sock = net.connect({ host: door.host, port: door.port });
          const h = { sock, closedAfterMs: null as number | null };
          held.push(h);
          sock.on('error', () => {});
          sock.resume(); // read what the server says (a 408), so that its FIN is seen
          sock.on('close', () => (h.closedAfterMs = performance.now() - heldT0));
          sock.once('connect', () => resolve());
          sock.once('close', () => resolve());
        }),
    ),
  );

  // Wrong tokens at a high rate: every request on its own connection, kept alive from our
  // side (no Connection: close): the server must close it after the 401.
  const tally = new Tally();
  const t0 = performance.now();
  const items = Array.from({ length: inp.requests }, (_, i) => i);
  await pool(items, inp.clients, async (i) => {
    const a = auths[i % auths.length]!;
    const route = routes()[Math.floor(r() * 9)]!;
    const path = a.query ? `${route.path}${route.path.includes('?') ? '&' : '?'}${a.query}` : route.path;
    const bytes = httpRequest(door, {
      method: route.method,
      path,
      auth: a.auth,
      connection: null,
      headerLines: a.extra ?? [],
      ...(route.body ? { body: route.body } : {}),
    });
    const ans = await rawExchange(door, [bytes], { timeoutMs: 10_000, closeWaitMs: 3_000 });
    const what = `${route.method} ${route.path.replace(/[0-9a-f-]{36}/, '{id}')} with ${a.what}`;
    let j = judge(ans, '4xx', { status: 401 });
    // A NUL in a header is refused by node's parser (400) before the token is looked at: right too.
    if (a.what === 'a NUL inside' && ans.status === 400) j = judge(ans, '4xx');
    if (!j.category && ans.status === 401) {
      if (!/^Bearer\b/.test(ans.headers['www-authenticate'] ?? '')) j = { category: '401 without WWW-Authenticate: Bearer', detail: j.detail };
      else if (!ans.closed) j = { category: 'a 401 that left the connection open (3 s later)', detail: j.detail };
    }
    tally.add(what, j, ans.status);
  });
  const secs = (performance.now() - t0) / 1000;
  out.violations.push(...tally.violations('wrong tokens'));
  out.notes.push(
    `wrong tokens: ${tally.total} requests (${auths.length} kinds × 9 routes) from ${inp.clients} connections at once in ${secs.toFixed(1)} s (${Math.round(tally.total / secs)}/s); answers ${tally.statusLine()}`,
  );

  // Pipelined on one kept-alive connection: a valid request, then a wrong token. The first is
  // served, the second refused and the connection closed: a good token does not vouch for
  // the next request on its connection.
  {
    const first = httpRequest(door, { method: 'GET', path: `/jobs/${id()}`, connection: null });
    const second = httpRequest(door, { method: 'DELETE', path: `/jobs/${id()}`, auth: `Bearer ${flip(door.token, 3)}`, connection: null });
    const ans = await rawExchange(door, [Buffer.concat([first, second])], { timeoutMs: 10_000, closeWaitMs: 3_000, answers: 2 });
    const statuses = ans.all.map((x) => x.status);
    if (statuses[0] !== 200 || statuses[1] !== 401 || !ans.closed)
      out.violations.push(
        `pipelined valid GET then a wrong-token DELETE on one connection: answers ${JSON.stringify(statuses)}, connection ${ans.closed ? 'closed' : 'left open'} (wanted 200, 401, closed)`,
      );
  }

  const p = await probe.stop();
  if (p.failures.length)
    out.violations.push(
      `the valid client was not served during the flood: ${p.failures.length} of ${p.failures.length + p.answered} asks failed (${p.failures.slice(0, 5).join('; ')})`,
    );
  if (p.answered === 0) out.violations.push('the valid client was never answered during the flood');
  out.notes.push(`a valid client during the flood: ${p.answered} answers 200, p50 ${p.p50Ms} ms, max ${p.maxMs} ms`);

  // Slow clients, a byte a second: cut off by the server's timeouts, while a valid client is served.
  if (inp.slow > 0) {
    const nHead = Math.ceil(inp.slow / 2);
    const nBody = inp.slow - nHead;
    inp.log(
      `slow clients: ${nHead} in the headers, ${nBody} in a body, a byte a second (cut at ${HEADERS_TIMEOUT_MS / 1000} s / ${REQUEST_TIMEOUT_MS / 1000} s)`,
    );
    const dribble = async (what: string, head: string, limitMs: number): Promise<void> => {
      const t = performance.now();
      // As many one-byte chunks as it takes to outlast the limit; they are never all sent.
      const bytes = [head, ...Array.from({ length: Math.ceil((limitMs + 2 * SLACK_MS) / 1000) }, () => 'a')];
      const ans = await rawExchange(door, bytes, { timeoutMs: limitMs + SLACK_MS, chunkDelayMs: 1_000 });
      const ms = performance.now() - t;
      if (!ans.closed)
        out.violations.push(`slow client (${what}): still connected after ${Math.round(ms / 1000)} s, past the server's ${limitMs / 1000} s limit`);
      else if (ans.status !== null && ans.status !== 408 && !(ans.status >= 400 && ans.status < 500))
        out.violations.push(`slow client (${what}): answered ${ans.status} when cut off`);
      else out.notes.push(`slow client (${what}): cut off after ${(ms / 1000).toFixed(1)} s with ${ans.status ?? 'no answer'}, ${ans.sent} bytes sent`);
    };
    const headerStart = `GET /jobs/ HTTP/1.1\r\nHost: ${door.host}:${door.port}\r\nAuthorization: Bearer ${door.token}\r\nX-Slow: `;
    const bodyStart = httpRequest(door, { method: 'PATCH', path: `/jobs/${id()}`, connection: null, contentLength: 1_000 }).toString('latin1');
    const slow = Promise.all([
      ...Array.from({ length: nHead }, (_, k) => dribble(`headers #${k + 1}`, headerStart, HEADERS_TIMEOUT_MS + CHECK_INTERVAL_MS)),
      ...Array.from({ length: nBody }, (_, k) => dribble(`body #${k + 1}`, bodyStart, REQUEST_TIMEOUT_MS + CHECK_INTERVAL_MS)),
    ]);
    // Slow clients must not stop a real one from being answered meanwhile.
    const during = startProbe(door, `/jobs/${id()}`);
    await sleep(8_000);
    const d = await during.stop();
    if (d.failures.length || d.answered === 0)
      out.violations.push(
        `the valid client was not served while slow clients dribbled: ${d.failures.length} of ${d.failures.length + d.answered} asks failed (${d.failures.slice(0, 5).join('; ')})`,
      );
    else out.notes.push(`a valid client while slow clients dribbled: ${d.answered} answers 200, p50 ${d.p50Ms} ms, max ${d.maxMs} ms`);
    // Every connection slot taken by connections that send nothing (more than the server
    // takes): a valid client must get in once the server cuts them (headers timeout).
    const exhaust = await holdIdle(door, EXHAUST_CONNECTIONS);
    const limit = HEADERS_TIMEOUT_MS + CHECK_INTERVAL_MS + SLACK_MS;
    const tEx = performance.now();
    let servedAfter: number | null = null;
    let refused = 0;
    while (performance.now() - tEx < limit + SLACK_MS) {
      const a = await rawExchange(door, [httpRequest(door, { method: 'GET', path: `/jobs/${id()}` })], { timeoutMs: 2_000 });
      if (a.status === 200) {
        servedAfter = performance.now() - tEx;
        break;
      }
      refused += 1;
      await sleep(500);
    }
    const stillOpen = exhaust.filter((h) => !h.closed).length;
    for (const h of exhaust) h.sock.destroy();
    if (servedAfter === null || servedAfter > limit)
      out.violations.push(
        `with ${EXHAUST_CONNECTIONS} idle connections open (the server takes ${MAX_CONNECTIONS}), a valid client was ${servedAfter === null ? 'not served' : `served only after ${(servedAfter / 1000).toFixed(1)} s`} (${refused} tries refused or unanswered; limit ${limit / 1000} s); ${stillOpen} of them still open`,
      );
    else
      out.notes.push(
        `${EXHAUST_CONNECTIONS} idle connections (the server takes ${MAX_CONNECTIONS}): a valid client served after ${(servedAfter / 1000).toFixed(1)} s (${refused} tries before)`,
      );
    await slow;
    // Idle connections (no byte at all) are slow clients too: by now they are past the headers limit.
    const open = held.filter((h) => h.closedAfterMs === null).length;
    if (inp.held > 0) {
      if (open)
        out.violations.push(
          `${open} of ${inp.held} connections that never sent a byte are still open after ${Math.round((performance.now() - heldT0) / 1000)} s`,
        );
      else
        out.notes.push(
          `${inp.held} idle connections (no byte sent) closed by the server after ${Math.round(Math.min(...held.map((h) => h.closedAfterMs!)) / 1000)}–${Math.round(Math.max(...held.map((h) => h.closedAfterMs!)) / 1000)} s`,
        );
    }
  } else {
    const closed = held.filter((h) => h.closedAfterMs !== null).length;
    out.notes.push(
      `slow clients: not in this size (the server cuts them at ${HEADERS_TIMEOUT_MS / 1000} s / ${REQUEST_TIMEOUT_MS / 1000} s and the daemon has no knob to shorten that; --apiSlow N runs them); ${inp.held} idle connections were held through the flood (${closed} closed by the server so far)`,
    );
  }
  for (const h of held) h.sock.destroy();
  await sleep(100);
  return out;
}

/** The server's connection limit (src/daemon/api/server.ts MAX_CONNECTIONS). */
const MAX_CONNECTIONS = 256;
/** Idle connections opened to take every slot, and then some. */
const EXHAUST_CONNECTIONS = MAX_CONNECTIONS + 44;

/** `n` connections that send nothing (each resolves once connected or refused). */
async function holdIdle(door: ApiDoor, n: number): Promise<{ sock: net.Socket; closed: boolean }[]> {
  const out: { sock: net.Socket; closed: boolean }[] = [];
  await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<void>((resolve) => {
          const sock = net.connect({ host: door.host, port: door.port });
          const h = { sock, closed: false };
          out.push(h);
          sock.on('error', () => {});
          sock.resume();
          sock.on('close', () => {
            h.closed = true;
            resolve();
          });
          sock.once('connect', () => resolve());
        }),
    ),
  );
  return out;
}
