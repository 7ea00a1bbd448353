/**
 * The REST API fuzzer of the bad-input scenario (issue 14 item 9): fuzzed JSON bodies
 * (the recorded globus-sdk TimerJob, TransferTimer and FlowTimer payloads, mutated: wrong
 * types, huge numbers, deep nesting, invalid UTF-8, NUL bytes, duplicated keys, cut short),
 * fuzzed paths (percent-encoding, `..`, very long, unicode, ids that are almost UUIDs),
 * fuzzed headers and framing (wrong Content-Type, bogus Content-Length, chunked with bad
 * framing, huge headers, broken request lines) and oversized bodies (413), sent by many
 * raw connections at once while the daemon's jobs fire.
 *
 * Every request has an expectation: valid ones 2xx, invalid ones a 4xx JSON, and mutated
 * bodies that may happen to be valid either. Writes never name a pre-existing job in a way
 * that resolves to it: those get only GETs, and writes through paths that must name no job
 * (a 2xx there is a violation). Writes that may succeed go to the fuzzer's own sacrificial
 * jobs (made first, start 2099), and any job a fuzzed body creates is deleted at once.
 */
import fs from 'node:fs';
import { MAX_API_BODY_BYTES } from '../../src/daemon/api/server.ts';
import { apiCall, type ApiDoor, type Expect, httpRequest, judge, pool, rawExchange, type RawOptions, type RequestParts, Tally } from './api.ts';
import { mulberry32 } from './util.ts';

const FUTURE = '2099-01-01T00:00:00+00:00';
const REFERENCE = new URL('../../../shared/reference/globus-sdk/timer/_common.json', import.meta.url);

interface FuzzCase {
  what: string;
  chunks: (string | Buffer)[];
  expect: Expect;
  status?: number;
  mayClose?: boolean;
  opts?: Partial<RawOptions>;
  /** A request that creates a job when it succeeds (the job is deleted at once). */
  creates?: boolean;
}

export interface ApiFuzzInput {
  door: ApiDoor;
  /** Pre-existing jobs: only read, or written through paths that name no job. */
  jobIds: readonly string[];
  /** The plain provider's run URL: the callback of every TimerJob body. */
  runUrl: string;
  cases: number;
  clients: number;
  seed: number;
  log: (line: string) => void;
}

export interface ApiFuzzOutput {
  violations: string[];
  notes: string[];
  /** Jobs the fuzzer made (sacrificial, or a fuzzed body that was valid): all deleted by the end. */
  made: Set<string>;
}

interface Bases {
  timerJob: Record<string, unknown>;
  transferTimer: Record<string, unknown>;
  flowTimer: Record<string, unknown>;
  patch: Record<string, unknown>;
}

/** Request bodies as the SDKs send them, from the recorded payloads (built-in copies when the reference is absent). */
function bases(runUrl: string): { bases: Bases; from: string } {
  let common: Record<string, Record<string, unknown>> | null = null;
  try {
    common = JSON.parse(fs.readFileSync(REFERENCE, 'utf8')) as Record<string, Record<string, unknown>>;
  } catch {
    common = null;
  }
  const v1 = common?.V1_TIMER ?? {
    name: 'example timer',
    interval: 864000.0,
    callback_body: { body: { label: 'example timer', sync_level: 3, transfer_items: [{ source_path: '/a', destination_path: '/b', recursive: false }] } },
  };
  const tt = common?.V2_TRANSFER_TIMER ?? {
    name: 'Very Cool Timer',
    schedule: { type: 'recurring', end: { count: 2 }, interval_seconds: 604800 },
    body: {
      DATA_TYPE: 'transfer',
      DATA: [{ DATA_TYPE: 'transfer_item', source_path: '/a', destination_path: '/b' }],
      source_endpoint: 'a',
      destination_endpoint: 'b',
    },
  };
  const ft = common?.V2_FLOW_TIMER ?? {
    name: 'Very Cool Timer',
    callback_url: 'https://flows.automate.globus.org/flows/000a11ce-0000-4000-8000-000000000004/run',
    callback_body: { body: { input_key: 'input_value' } },
  };
  const flowId = /flows\/([^/]+)\/run/.exec(String(ft.callback_url))?.[1] ?? '000a11ce-0000-4000-8000-000000000004';
  return {
    from: common ? REFERENCE.pathname : 'built-in copies (the recorded payloads were not found)',
    bases: {
      timerJob: {
        name: v1.name,
        start: FUTURE,
        interval: v1.interval,
        stop_after: null,
        callback_url: runUrl,
        callback_body: v1.callback_body,
        scope: null,
      },
      transferTimer: {
        timer: { timer_type: 'transfer', name: tt.name, schedule: { ...(tt.schedule as object), start: FUTURE }, body: tt.body },
      },
      flowTimer: {
        timer: { timer_type: 'flow', name: ft.name, flow_id: flowId, schedule: { type: 'once', datetime: FUTURE }, body: ft.callback_body },
      },
      patch: { name: 'patched by the fuzzer', interval: 3600, callback_body: { body: { patched: true } } },
    },
  };
}

/** Keys whose removal could make a job fire now (a once schedule without a time): never removed. */
const KEEP = new Set(['start', 'datetime', 'type', 'callback_url']);

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

/** Values of the wrong type or out of range; never a valid URL or a past time (nothing may fire elsewhere). */
const WEIRD: readonly (() => unknown)[] = [
  () => null,
  () => true,
  () => 0,
  () => -1,
  () => 0.5,
  () => 1e308,
  () => -1e308,
  () => 2 ** 53 + 2,
  () => 2 ** 64,
  () => '',
  () => ' ',
  () => 'x'.repeat(70_000),
  () => '\u0000',
  () => 'a\u0000b',
  () => '\ud800',
  () => '\u202e\u200b',
  () => '💥'.repeat(300),
  () => '../../etc/passwd',
  () => "'; DROP TABLE jobs; --",
  () => '2099-13-45T99:99:99Z',
  () => 'not a url',
  () => 'ftp://',
  () => [],
  () => [1, '2', null],
  () => ({}),
  () => ({ nested: { deeper: [{}] } }),
];

/** Paths to every leaf and subtree of a JSON value. */
function pathsOf(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (at.length) out.push(at);
  if (v && typeof v === 'object') for (const [k, c] of Object.entries(v)) pathsOf(c, [...at, Array.isArray(v) ? Number(k) : k], out);
  return out;
}

function setAt(root: unknown, at: (string | number)[], value: unknown, remove = false): void {
  let o = root as Record<string | number, unknown>;
  for (const k of at.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
  const last = at.at(-1)!;
  if (remove) {
    if (Array.isArray(o)) o.splice(Number(last), 1);
    else delete o[last];
  } else o[last] = value;
}

/** A structural mutation of `base` (may or may not still be valid), as JSON text. */
function mutate(r: Rand, base: Record<string, unknown>): { text: string; how: string } {
  const doc = structuredClone(base);
  const paths = pathsOf(doc);
  const n = 1 + Math.floor(r() * 3);
  const how: string[] = [];
  for (let i = 0; i < n; i++) {
    const at = pick(r, paths);
    const key = String(at.at(-1));
    const choice = r();
    try {
      if (choice < 0.55) {
        const w = pick(r, WEIRD)();
        setAt(doc, at, w);
        how.push(`${at.join('.')}=${JSON.stringify(w)?.slice(0, 20)}`);
      } else if (choice < 0.75 && !KEEP.has(key)) {
        setAt(doc, at, undefined, true);
        how.push(`-${at.join('.')}`);
      } else {
        const parent = at.length > 1 ? at.slice(0, -1) : [];
        let o = doc as Record<string, unknown>;
        for (const k of parent) o = o[k] as Record<string, unknown>;
        if (o && typeof o === 'object' && !Array.isArray(o)) {
          o[`unknown_${Math.floor(r() * 1000)}`] = pick(r, WEIRD)();
          how.push(`+unknown in ${parent.join('.') || 'top'}`);
        }
      }
    } catch {
      // a path made stale by an earlier mutation
    }
  }
  return { text: JSON.stringify(doc), how: how.join(', ') };
}

/** Raw-text damage the JSON layer must refuse (or, for some, may read): [text or bytes, how, always invalid]. */
function damage(r: Rand, text: string): { bytes: Buffer; how: string; invalid: boolean } {
  const b = Buffer.from(text, 'utf8');
  const at = Math.max(1, Math.floor(r() * (b.length - 1)));
  const kind = Math.floor(r() * 12);
  const splice = (ins: Buffer | string) => Buffer.concat([b.subarray(0, at), Buffer.isBuffer(ins) ? ins : Buffer.from(ins, 'latin1'), b.subarray(at)]);
  const inString = (ins: Buffer) => {
    // Inside the first string value, so that the JSON stays well-formed around it.
    const i = text.indexOf('":"');
    const pos = i < 0 ? at : Buffer.byteLength(text.slice(0, i + 3));
    return Buffer.concat([b.subarray(0, pos), ins, b.subarray(pos)]);
  };
  switch (kind) {
    case 0:
      return { bytes: b.subarray(0, at), how: `cut at byte ${at}`, invalid: true };
    case 1:
      return { bytes: splice(Buffer.from([0])), how: `NUL byte at ${at}`, invalid: true };
    case 2:
      return { bytes: inString(Buffer.from([0])), how: 'raw NUL inside a string', invalid: true };
    case 3:
      return { bytes: inString(Buffer.from([0xff, 0xfe, 0xc0, 0xaf])), how: 'invalid UTF-8 (ff fe c0 af) inside a string', invalid: false };
    case 4:
      return { bytes: inString(Buffer.from([0xed, 0xa0, 0x80])), how: 'an encoded surrogate (ed a0 80) inside a string', invalid: false };
    case 5:
      return {
        bytes: Buffer.from(text.replace(/"interval(_seconds)?":\s*[0-9.e+]+/, `"interval$1":1${'0'.repeat(400)}`), 'utf8'),
        how: 'a 401-digit number',
        invalid: false,
      };
    case 6: {
      const first = /^\{"([^"]+)":/.exec(text)?.[1] ?? 'name';
      return {
        bytes: Buffer.from(`{"${first}":${JSON.stringify(pick(r, WEIRD)())},${text.slice(1)}`, 'utf8'),
        how: `duplicated key ${first} (weird first)`,
        invalid: false,
      };
    }
    case 7: {
      const first = /^\{"([^"]+)":/.exec(text)?.[1] ?? 'name';
      return {
        bytes: Buffer.from(`${text.slice(0, -1)},"${first}":${JSON.stringify(pick(r, WEIRD)())}}`, 'utf8'),
        how: `duplicated key ${first} (weird last)`,
        invalid: false,
      };
    }
    case 8: {
      const depth = pick(r, [101, 1_000, 50_000]);
      const deep = `${'['.repeat(depth)}1${']'.repeat(depth)}`;
      return { bytes: Buffer.from(`${text.slice(0, -1)},"deep":${deep}}`, 'utf8'), how: `arrays nested ${depth} deep`, invalid: true };
    }
    case 9:
      return { bytes: Buffer.from(`\ufeff${text}`, 'utf8'), how: 'a BOM first', invalid: false };
    case 10:
      return {
        bytes: Buffer.from(`${text.slice(0, -1)},"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}}}`, 'utf8'),
        how: '__proto__ keys',
        invalid: false,
      };
    default: {
      const c = b[at]!;
      const flipped = Buffer.from(b);
      flipped[at] = c ^ (1 << Math.floor(r() * 8));
      return { bytes: flipped, how: `bit flip at ${at}`, invalid: false };
    }
  }
}

function altId(id: string, r: Rand): { path: string; how: string }[] {
  const hex = '0123456789abcdef';
  const i = pick(
    r,
    [...id].map((c, k) => (c === '-' ? -1 : k)).filter((k) => k >= 0),
  );
  const other = hex[(hex.indexOf(id[i]!) + 1) % 16]!;
  return [
    { path: `${id.slice(0, i)}${other}${id.slice(i + 1)}`, how: 'one hex digit changed' },
    { path: id.slice(0, -1), how: 'last digit dropped' },
    { path: `${id}0`, how: 'a digit added' },
    { path: `${id.slice(0, i)}g${id.slice(i + 1)}`, how: 'a non-hex letter' },
    { path: id.replaceAll('-', ''), how: 'no dashes' },
    { path: `%7B${id}%7D`, how: 'in braces' },
    { path: `urn:uuid:${id}`, how: 'urn:uuid: prefix' },
    { path: `${id}%00`, how: 'NUL appended' },
    { path: `${id}%20`, how: 'space appended' },
    { path: `%20${id}`, how: 'space first' },
    { path: `${id}%0A`, how: 'newline appended' },
    { path: `${id.slice(0, 8)}%E2%80%90${id.slice(9)}`, how: 'a Unicode hyphen (U+2010)' },
    { path: `${id.slice(0, 8)}%EF%BC%8D${id.slice(9)}`, how: 'a fullwidth hyphen' },
    { path: id.replace(/[0-9]/, (d) => encodeURIComponent(String.fromCodePoint(0x0660 + Number(d)))), how: 'an Arabic-Indic digit' },
    { path: `${id}%2Fpause`, how: 'encoded slash + pause' },
    { path: `${id};x`, how: 'a ;param' },
    { path: `..%2F${id}`, how: 'encoded ../ first' },
    { path: `${id}%2F..`, how: 'encoded /.. after' },
  ];
}

/** Percent-encode every character of an id (it still names the job: only for GETs). */
const encodeAll = (id: string) => [...id].map((c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`).join('');

function buildCases(inp: ApiFuzzInput, sacrificial: readonly string[]): { cases: FuzzCase[]; from: string } {
  const { door } = inp;
  const r = mulberry32(inp.seed);
  const { bases: b, from } = bases(inp.runUrl);
  const req = (p: RequestParts) => httpRequest(door, p);
  const one = (what: string, p: RequestParts, expect: Expect, extra: Partial<FuzzCase> = {}): FuzzCase => ({ what, chunks: [req(p)], expect, ...extra });
  const raw = (what: string, text: string | Buffer, expect: Expect, extra: Partial<FuzzCase> = {}): FuzzCase => ({
    what,
    chunks: [Buffer.isBuffer(text) ? text : Buffer.from(text, 'latin1')],
    expect,
    ...extra,
  });
  const job = () => pick(r, inp.jobIds);
  const sac = () => pick(r, sacrificial);
  const hostLine = `Host: ${door.host}:${door.port}`;
  const authLine = `Authorization: Bearer ${door.token}`;
  const validPatch = JSON.stringify(b.patch);
  const fixed: FuzzCase[] = [];

  // Valid requests among them: these must succeed.
  fixed.push(one('GET /jobs/', { method: 'GET', path: '/jobs/' }, 'ok'));
  fixed.push(one('GET /jobs (no slash)', { method: 'GET', path: '/jobs' }, 'ok'));
  fixed.push(one('GET /openapi.json', { method: 'GET', path: '/openapi.json' }, 'ok'));
  fixed.push(one('GET /jobs/{id}', { method: 'GET', path: `/jobs/${job()}` }, 'ok', { status: 200 }));
  fixed.push(one('GET /jobs/{ID} (upper case)', { method: 'GET', path: `/jobs/${job().toUpperCase()}` }, 'any'));
  fixed.push(one('GET /jobs/{id}/ (trailing slash)', { method: 'GET', path: `/jobs/${job()}/` }, 'any'));
  fixed.push(one('GET /jobs/{id, every byte %-encoded}', { method: 'GET', path: `/jobs/${encodeAll(job())}` }, 'any'));
  fixed.push(one('GET /jobs/?filter_status=%', { method: 'GET', path: '/jobs/?filter_status=%' }, 'any'));
  fixed.push(one('GET /jobs/?filter_status=__proto__', { method: 'GET', path: '/jobs/?filter_status=__proto__,constructor' }, 'any'));
  fixed.push(one('GET /jobs/?a=…(8 KB query)', { method: 'GET', path: `/jobs/?filter_status=${'active,'.repeat(1000)}` }, 'any'));

  // Writes through paths that must name no job: a pre-existing id, almost.
  for (const alt of altId(job(), r)) {
    const m = pick(r, ['PATCH', 'DELETE', 'POST pause', 'POST resume', 'GET'] as const);
    const path = m === 'POST pause' ? `/jobs/${alt.path}/pause` : m === 'POST resume' ? `/jobs/${alt.path}/resume` : `/jobs/${alt.path}`;
    const method = m.startsWith('POST') ? 'POST' : m;
    fixed.push(one(`${m} /jobs/{id: ${alt.how}}`, { method, path, ...(method === 'PATCH' ? { body: validPatch } : {}) }, '4xx'));
  }
  // Paths of no route (or a different one): `..`, encodings, long, unicode, odd forms.
  const id = job();
  const weirdPaths: [string, string][] = [
    ['DELETE', `/jobs/${id}/..`],
    ['DELETE', `/jobs/${id}/../${id}`],
    ['DELETE', `/jobs/./${id}`],
    ['DELETE', `//jobs/${id}`],
    ['DELETE', `/jobs//${id}`],
    ['DELETE', `/JOBS/${id}`],
    ['DELETE', `/%6Aobs/${id}`],
    ['DELETE', `/v2/timer/${id}`],
    ['DELETE', `/jobs/${id}/pause`],
    ['PATCH', `/jobs/${id}/resume`],
    ['PUT', `/jobs/${id}`],
    ['POST', `/jobs/${id}`],
    ['POST', `/jobs/${id}/pause/extra`],
    // `GET /` is the dashboard's page (issue 16): not a weird path. These are.
    ['POST', '/'],
    ['GET', '/static/../../../etc/passwd'],
    ['GET', '/static/..%2F..%2Fpackage.json'],
    ['GET', '/static/'],
    ['GET', '/job/not-a-uuid'],
    ['GET', '/job/../jobs/'],
    ['GET', '/..'],
    ['GET', '/../../../../etc/passwd'],
    ['GET', '/jobs/..%2F..%2F..%2Fetc%2Fpasswd'],
    ['GET', '/jobs/%'],
    ['GET', '/jobs/%zz'],
    ['GET', '/jobs/%C0%AF'],
    ['GET', '/jobs/%E2%80%AE'],
    ['GET', '/jobs/%F0%9F%92%A5'],
    ['GET', '/jobs/%ED%A0%80'],
    ['GET', `/jobs/${'a'.repeat(1_000)}`],
    ['GET', `/jobs/${'%41'.repeat(3_000)}`],
    ['GET', '/openapi.json/..'],
    ['GET', '/v2/timer'],
    ['DELETE', '/jobs/'],
    ['OPTIONS', '/jobs/'],
    ['PATCH', `/jobs/${id}/x`],
    ['TRACE', '/jobs/'],
  ];
  for (const [method, path] of weirdPaths) fixed.push(one(`${method} ${path.slice(0, 70)}`, { method, path }, '4xx'));
  // Request lines node's parser refuses or that name no route: still a 4xx, as JSON.
  fixed.push(one('GET with a 20 KB path', { method: 'GET', path: `/jobs/${'a'.repeat(20_000)}` }, '4xx'));
  fixed.push(
    raw(
      'GET with raw UTF-8 in the path',
      Buffer.concat([
        Buffer.from('GET /jobs/'),
        Buffer.from('é💥', 'utf8'),
        Buffer.from(` HTTP/1.1\r\n${hostLine}\r\n${authLine}\r\nConnection: close\r\n\r\n`),
      ]),
      '4xx',
    ),
  );
  fixed.push(
    raw('absolute-form request target', `GET http://evil.example/jobs/${id} HTTP/1.1\r\n${hostLine}\r\n${authLine}\r\nConnection: close\r\n\r\n`, 'any'),
  );
  fixed.push(raw('asterisk-form request target', `GET * HTTP/1.1\r\n${hostLine}\r\n${authLine}\r\nConnection: close\r\n\r\n`, '4xx'));
  fixed.push(raw('lower-case method', `get /jobs/ HTTP/1.1\r\n${hostLine}\r\n${authLine}\r\nConnection: close\r\n\r\n`, '4xx'));
  fixed.push(raw('unknown method', `FROB /jobs/ HTTP/1.1\r\n${hostLine}\r\n${authLine}\r\nConnection: close\r\n\r\n`, '4xx'));
  fixed.push(raw('HTTP/9.9', `GET /jobs/ HTTP/9.9\r\n${hostLine}\r\n${authLine}\r\nConnection: close\r\n\r\n`, '4xx'));
  fixed.push(raw('HTTP/2 preface on HTTP/1.1', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', '4xx'));
  fixed.push(raw('a TLS ClientHello', Buffer.from('16030100a5010000a103035b', 'hex'), '4xx', { mayClose: true, opts: { end: true } }));
  fixed.push(raw('random bytes', Buffer.from(Array.from({ length: 300 }, () => Math.floor(r() * 256))), '4xx', { mayClose: true, opts: { end: true } }));
  fixed.push(raw('LF-only line endings', `GET /jobs/ HTTP/1.1\n${hostLine}\n${authLine}\nConnection: close\n\n`, 'any'));
  fixed.push(raw('no Host header', `GET /jobs/ HTTP/1.1\r\n${authLine}\r\nConnection: close\r\n\r\n`, '4xx'));
  fixed.push(raw('HTTP/1.0, no Host', `GET /jobs/ HTTP/1.0\r\n${authLine}\r\n\r\n`, 'any'));

  // Headers: Content-Type, Content-Length, chunked framing, size, bad bytes.
  for (const ct of [
    'text/plain',
    'application/xml',
    'multipart/form-data; boundary=x',
    'application/json; charset=latin1',
    'application/x-www-form-urlencoded',
    '',
  ])
    fixed.push(one(`PATCH with Content-Type ${JSON.stringify(ct)}`, { method: 'PATCH', path: `/jobs/${sac()}`, body: validPatch, contentType: ct }, 'any'));
  const pBody = JSON.stringify({ name: 'cl' });
  for (const cl of ['abc', '-1', '1e3', '0x10', '+5', ' 12 ', '99999999999999999999999'])
    fixed.push(
      one(`PATCH with Content-Length ${JSON.stringify(cl)}`, { method: 'PATCH', path: `/jobs/${sac()}`, body: pBody, contentLength: cl }, '4xx', {
        mayClose: true,
        opts: { end: true },
      }),
    );
  fixed.push(
    one(
      'two different Content-Length headers',
      { method: 'PATCH', path: `/jobs/${sac()}`, body: pBody, headerLines: [`Content-Length: ${pBody.length + 3}`] },
      '4xx',
    ),
  );
  fixed.push(
    one('Content-Length and chunked together', { method: 'PATCH', path: `/jobs/${sac()}`, body: pBody, headerLines: ['Transfer-Encoding: chunked'] }, '4xx', {
      mayClose: true,
    }),
  );
  fixed.push(
    one(
      'Content-Length shorter than the body (the rest a second request)',
      { method: 'POST', path: '/jobs/', body: '{"a":1} GARBAGE / HTTP/1.1', contentLength: 7 },
      '4xx',
    ),
  );
  fixed.push(
    one('Content-Length longer than the body, then FIN', { method: 'POST', path: '/jobs/', body: '{"a":1}', contentLength: 500 }, '4xx', {
      mayClose: true,
      opts: { end: true },
    }),
  );
  const chunked = (what: string, framing: string, expect: Expect = '4xx', end = true) =>
    fixed.push(
      raw(
        `chunked: ${what}`,
        `POST /jobs/ HTTP/1.1\r\n${hostLine}\r\n${authLine}\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${framing}`,
        expect,
        { mayClose: true, opts: { end } },
      ),
    );
  chunked('a size that is not hex', 'zz\r\n{}\r\n0\r\n\r\n');
  chunked('a negative size', '-5\r\n{}\r\n0\r\n\r\n');
  chunked('a size of 2^72', 'ffffffffffffffffff\r\n{}\r\n0\r\n\r\n');
  chunked('more data than its size', '2\r\n{"a":1}\r\n0\r\n\r\n');
  chunked('no CRLF after the data', '2\r\n{}0\r\n\r\n');
  chunked('no last chunk, then FIN', '2\r\n{}\r\n');
  chunked('a garbage extension', '2;\u0001\u0002=\r\n{}\r\n0\r\n\r\n');
  chunked('a valid framing of an invalid job', '2\r\n{}\r\n0\r\n\r\n');
  fixed.push(
    raw(
      'Transfer-Encoding: gzip, chunked',
      `POST /jobs/ HTTP/1.1\r\n${hostLine}\r\n${authLine}\r\nConnection: close\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
      '4xx',
      {
        mayClose: true,
      },
    ),
  );
  fixed.push(
    raw(
      'Transfer-Encoding: identity',
      `POST /jobs/ HTTP/1.1\r\n${hostLine}\r\n${authLine}\r\nConnection: close\r\nTransfer-Encoding: identity\r\n\r\n{}`,
      '4xx',
      {
        mayClose: true,
        opts: { end: true },
      },
    ),
  );
  fixed.push(one('a 20 KB header', { method: 'GET', path: '/jobs/', headerLines: [`X-Pad: ${'a'.repeat(20_000)}`] }, '4xx'));
  fixed.push(one('a 8 KB header', { method: 'GET', path: '/jobs/', headerLines: [`X-Pad: ${'a'.repeat(8_000)}`] }, 'any'));
  fixed.push(
    one('400 headers of 100 bytes', { method: 'GET', path: '/jobs/', headerLines: Array.from({ length: 400 }, (_, i) => `X-H${i}: ${'b'.repeat(95)}`) }, '4xx'),
  );
  fixed.push(one('3000 tiny headers', { method: 'GET', path: '/jobs/', headerLines: Array.from({ length: 3000 }, (_, i) => `X${i}: 1`) }, 'any'));
  fixed.push(one('a NUL in a header value', { method: 'GET', path: '/jobs/', headerLines: ['X-Bad: a\u0000b'] }, '4xx'));
  fixed.push(one('a space in a header name', { method: 'GET', path: '/jobs/', headerLines: ['X Bad: 1'] }, '4xx'));
  fixed.push(one('an obsolete folded header line', { method: 'GET', path: '/jobs/', headerLines: ['X-Fold: a', ' continued'] }, 'any'));
  fixed.push(one('a bare CR in a header', { method: 'GET', path: '/jobs/', headerLines: ['X-Bad: a\rb'] }, '4xx'));
  fixed.push(one('Latin-1 bytes in a header value', { method: 'GET', path: '/jobs/', headerLines: ['X-Latin: \u00e9\u00ff'] }, 'any'));
  fixed.push(one('Expect: 100-continue', { method: 'PATCH', path: `/jobs/${sac()}`, body: validPatch, headerLines: ['Expect: 100-continue'] }, 'any'));
  fixed.push(one('Expect: something-else', { method: 'PATCH', path: `/jobs/${sac()}`, body: validPatch, headerLines: ['Expect: 200-ok'] }, '4xx'));
  fixed.push(
    one('pipelined: a valid GET, then garbage (the second answer judged)', { method: 'GET', path: '/jobs/' }, '4xx', {
      chunks: [req({ method: 'GET', path: `/jobs/${id}`, connection: 'keep-alive' }), Buffer.from('GARBAGE\r\n\r\n')],
      opts: { answers: 2 },
    }),
  );

  // Oversized bodies: 413 (the connection handled: the server may stop reading and close).
  const big = (n: number) => Buffer.alloc(n, 0x20);
  fixed.push(
    one('Content-Length one above the limit, no body sent', { method: 'POST', path: '/jobs/', contentLength: MAX_API_BODY_BYTES + 1 }, '4xx', {
      status: 413,
      opts: { timeoutMs: 5_000 },
    }),
  );
  fixed.push(one('Content-Length of 10 GiB, no body', { method: 'POST', path: '/v2/timer', contentLength: 10 * 2 ** 30 }, '4xx', { status: 413 }));
  fixed.push(
    one('a body one byte above the limit', { method: 'POST', path: '/jobs/', body: big(MAX_API_BODY_BYTES + 1) }, '4xx', {
      status: 413,
      mayClose: true,
      opts: { timeoutMs: 15_000 },
    }),
  );
  fixed.push(
    one('PATCH with a 3 MiB body', { method: 'PATCH', path: `/jobs/${id}`, body: big(3 << 20) }, '4xx', {
      status: 413,
      mayClose: true,
      opts: { timeoutMs: 15_000 },
    }),
  );
  {
    const chunk = Buffer.alloc(64 << 10, 0x20);
    const frames: Buffer[] = [
      Buffer.from(
        `POST /jobs/ HTTP/1.1\r\n${hostLine}\r\n${authLine}\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`,
      ),
    ];
    for (let sent = 0; sent <= MAX_API_BODY_BYTES + chunk.length; sent += chunk.length)
      frames.push(Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]));
    frames.push(Buffer.from('0\r\n\r\n'));
    fixed.push({ what: 'chunked, past the limit with no length', chunks: frames, expect: '4xx', status: 413, mayClose: true, opts: { timeoutMs: 15_000 } });
  }
  {
    // Exactly the limit: read in full, refused for what it is (422), not for its size.
    const head = '{"pad":"';
    const tail = '"}';
    const body = head + 'x'.repeat(MAX_API_BODY_BYTES - head.length - tail.length) + tail;
    fixed.push(one('a body of exactly the limit', { method: 'POST', path: '/jobs/', body }, '4xx', { status: 422, opts: { timeoutMs: 15_000 } }));
  }

  // The random part: mutated and damaged bodies, at every route that reads one.
  const random: FuzzCase[] = [];
  const targets = [
    { route: 'POST /jobs/', method: 'POST', path: () => '/jobs/', base: b.timerJob, creates: true },
    { route: 'POST /v2/timer (transfer)', method: 'POST', path: () => '/v2/timer', base: b.transferTimer, creates: true },
    { route: 'POST /v2/timer (flow)', method: 'POST', path: () => '/v2/timer', base: b.flowTimer, creates: true },
    { route: 'PATCH /jobs/{sacrificial}', method: 'PATCH', path: () => `/jobs/${sac()}`, base: b.patch, creates: false },
    { route: 'POST /jobs/{sacrificial}/resume', method: 'POST', path: () => `/jobs/${sac()}/resume`, base: { update_credentials: true }, creates: false },
  ];
  const want = Math.max(0, inp.cases - fixed.length);
  for (let i = 0; i < want; i++) {
    const t = pick(r, targets);
    const roll = r();
    if (roll < 0.08) {
      const top = pick(r, ['[]', '"x"', '1', 'null', 'true', '[{}]', '""']);
      random.push(one(`${t.route}: top-level ${top}`, { method: t.method, path: t.path(), body: top }, '4xx'));
    } else if (roll < 0.5) {
      const m = mutate(r, t.base);
      random.push(one(`${t.route}: ${m.how}`, { method: t.method, path: t.path(), body: m.text }, 'any', { creates: t.creates }));
    } else {
      const m = r() < 0.5 ? mutate(r, t.base).text : JSON.stringify(t.base);
      const d = damage(r, m);
      random.push(one(`${t.route}: ${d.how}`, { method: t.method, path: t.path(), body: d.bytes }, d.invalid ? '4xx' : 'any', { creates: t.creates }));
    }
  }
  return { cases: [...fixed, ...random], from };
}

/** The id of the job a 201 made, from a V1 or V2 document. */
function createdId(body: string): string | null {
  try {
    const j = JSON.parse(body) as { job_id?: unknown; timer?: { job_id?: unknown } };
    const id = j.job_id ?? j.timer?.job_id;
    return typeof id === 'string' ? id : null;
  } catch {
    return null;
  }
}

export async function apiFuzz(inp: ApiFuzzInput): Promise<ApiFuzzOutput> {
  const out: ApiFuzzOutput = { violations: [], notes: [], made: new Set() };
  const { door } = inp;
  const { bases: b } = bases(inp.runUrl);
  // Sacrificial jobs: valid bodies as the SDKs send them must be taken (201).
  const sacrificial: string[] = [];
  for (const [what, path, body] of [
    ['TimerJob', '/jobs/', b.timerJob],
    ['TimerJob', '/jobs/', { ...b.timerJob, name: 'sacrificial 2' }],
    ['TransferTimer', '/v2/timer', b.transferTimer],
  ] as const) {
    const res = await apiCall(door, 'POST', path, body);
    const made = res.json ? createdId(JSON.stringify(res.json)) : null;
    if (res.status !== 201 || !made) {
      out.violations.push(
        `API: a valid ${what} (the recorded payload, start 2099) was not taken: ${res.status ?? 'no answer'} ${JSON.stringify(res.json).slice(0, 300)}`,
      );
      continue;
    }
    out.made.add(made);
    sacrificial.push(made);
  }
  if (sacrificial.length === 0) throw new Error(`API fuzz: no sacrificial job could be made: ${out.violations.join('; ')}`);
  const { cases, from } = buildCases(inp, sacrificial);
  inp.log(`API fuzz: ${cases.length} requests from ${inp.clients} connections at once (seed ${inp.seed}; bodies from ${from})`);
  const tally = new Tally();
  let createdNow = 0;
  const t0 = performance.now();
  await pool(cases, inp.clients, async (c) => {
    const a = await rawExchange(door, c.chunks, { timeoutMs: 8_000, closeWaitMs: 0, ...c.opts });
    tally.add(c.what, judge(a, c.expect, { ...(c.status === undefined ? {} : { status: c.status }), ...(c.mayClose ? { mayClose: true } : {}) }), a.status);
    if (a.status === 201) {
      if (!c.creates) out.violations.push(`API: ${c.what}: a request that cannot create a job answered 201`);
      const made = createdId(a.body);
      if (made) {
        out.made.add(made);
        createdNow += 1;
        // Deleted at once: a fuzzed job is never left to fire.
        const del = await apiCall(door, 'DELETE', `/jobs/${made}`);
        if (del.status !== 200) out.violations.push(`API: DELETE of the job a fuzzed body made (${made}) answered ${del.status}`);
      } else out.violations.push(`API: ${c.what} answered 201 without a job id (one the fuzzer cannot delete): ${a.body.slice(0, 200)}`);
    }
  });
  const secs = (performance.now() - t0) / 1000;
  out.violations.push(...tally.violations('API fuzz'));
  out.notes.push(
    `API fuzz: ${tally.total} requests in ${secs.toFixed(1)} s from ${inp.clients} connections (seed ${inp.seed}); answers ${tally.statusLine()}; ${createdNow} fuzzed bodies were valid and made a job (deleted at once)`,
  );
  // The sacrificial jobs go too (a status change only).
  for (const made of sacrificial) {
    const del = await apiCall(door, 'DELETE', `/jobs/${made}`);
    if (del.status !== 200 && del.status !== 404) out.violations.push(`API: DELETE of sacrificial job ${made} answered ${del.status}`);
  }
  return out;
}
