/**
 * Pure tests of the input rules (src/core/input.ts, src/core/time.ts) and the text layouts
 * of the original CLI (src/cli/output.ts). No daemon, no I/O.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { lineFormatter, tailLines } from '../src/cli/logs.ts';
import { formatInterval, formatRecord, formatTable, jobRecord, jobTable, lastRunResult, toJson } from '../src/cli/output.ts';
import { checkScope, MAX_SCOPE_LENGTH } from '../src/core/scopes.ts';
import { ERROR_CODES, TimerError } from '../src/core/errors.ts';
import {
  checkActionBody,
  checkActionUrl,
  checkIntervalSeconds,
  checkName,
  checkStopAfterRuns,
  MAX_ACTION_BODY_DEPTH,
  MAX_INTERVAL_SECONDS,
  parseActionBody,
  parseInterval,
} from '../src/core/input.ts';
import { formatIso, formatIsoOrNull, parseDateTime } from '../src/core/time.ts';
import { checkLabel } from '../src/core/transfer.ts';
import { jsonForTerminal, printable, safe } from '../src/util/printable.ts';
import { redactUrl } from '../src/util/redact-url.ts';
import type { JobDocument, RunResult } from '../src/contract/protocol.ts';

/** Assert that `fn` throws an INVALID_INPUT TimerError, optionally with a message matching `re`. */
function assertInvalid(fn: () => unknown, re?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TimerError, `expected a TimerError, got ${String(err)}`);
    assert.equal(err.code, ERROR_CODES.INVALID_INPUT);
    if (re) assert.match(err.message, re);
    return true;
  });
}

// ---------------------------------------------------------------------------------------
// Intervals

test('parseInterval: unit forms and bare seconds', () => {
  const cases: [string, number][] = [
    ['5m 100s', 400],
    ['2h3m4s', 7384],
    ['4w 1d', 2_505_600],
    ['60', 60],
    ['1d', 86_400],
    ['1w 2d 3h 4m 5s', 604_800 + 2 * 86_400 + 3 * 3600 + 4 * 60 + 5],
    ['1w2d3h4m5s', 604_800 + 2 * 86_400 + 3 * 3600 + 4 * 60 + 5],
    ['  90  ', 90],
    ['1s', 1],
    ['10 m', 600],
    ['1', 1],
  ];
  for (const [text, seconds] of cases) assert.equal(parseInterval(text), seconds, `interval ${JSON.stringify(text)}`);
});

test('parseInterval: rejects anything else whole, never half-parsed', () => {
  const bad = ['1m2d', '10x', '', '   ', '0', '0s', '-5', '1.5', '5 m s', 's', 'm', '1h 1h', '1d 2w', '5mm', '1h-5m', '1e3', '0x10', '１０'];
  for (const text of bad) assertInvalid(() => parseInterval(text), /interval/);
});

test('parseInterval: bounded above', () => {
  assert.equal(parseInterval(String(MAX_INTERVAL_SECONDS)), MAX_INTERVAL_SECONDS);
  assertInvalid(() => parseInterval(String(MAX_INTERVAL_SECONDS + 1)));
  assertInvalid(() => parseInterval('99999w'));
  assertInvalid(() => parseInterval('9'.repeat(400)));
});

test('checkIntervalSeconds: whole seconds from 1', () => {
  assert.equal(checkIntervalSeconds(1), 1);
  for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, MAX_INTERVAL_SECONDS + 1]) {
    assertInvalid(() => checkIntervalSeconds(bad));
  }
});

// ---------------------------------------------------------------------------------------
// Start and stop times

test('parseDateTime: explicit offsets', () => {
  const cases: [string, number][] = [
    ['2026-03-04T05:06:07Z', Date.UTC(2026, 2, 4, 5, 6, 7)],
    ['2026-03-04 05:06:07Z', Date.UTC(2026, 2, 4, 5, 6, 7)],
    ['2026-03-04T05:06:07+00:00', Date.UTC(2026, 2, 4, 5, 6, 7)],
    ['2026-03-04T05:06:07+02:00', Date.UTC(2026, 2, 4, 3, 6, 7)],
    ['2026-03-04T05:06:07+0530', Date.UTC(2026, 2, 3, 23, 36, 7)],
    ['2026-03-04T05:06:07-0800', Date.UTC(2026, 2, 4, 13, 6, 7)],
    ['2026-03-04T05:06:07-08:00', Date.UTC(2026, 2, 4, 13, 6, 7)],
    ['2026-03-04T05:06:07.5Z', Date.UTC(2026, 2, 4, 5, 6, 7, 500)],
    ['2026-03-04T05:06:07.123Z', Date.UTC(2026, 2, 4, 5, 6, 7, 123)],
    ['2026-03-04T05:06:07.123456+01:00', Date.UTC(2026, 2, 4, 4, 6, 7, 123)],
    ['2026-03-04Z', Date.UTC(2026, 2, 4)],
    ['2024-02-29T23:59:59Z', Date.UTC(2024, 1, 29, 23, 59, 59)],
    ['  2026-03-04T05:06:07Z  ', Date.UTC(2026, 2, 4, 5, 6, 7)],
  ];
  for (const [text, ms] of cases) assert.equal(parseDateTime(text), ms, `time ${JSON.stringify(text)}`);
});

test('parseDateTime: no offset means local time', () => {
  const cases: [string, Date][] = [
    ['2026-03-04', new Date(2026, 2, 4)],
    ['2026-01-15', new Date(2026, 0, 15, 0, 0, 0)],
    ['2026-03-04T05:06:07', new Date(2026, 2, 4, 5, 6, 7)],
    ['2026-03-04 05:06:07', new Date(2026, 2, 4, 5, 6, 7)],
    ['2026-07-20T12:34:56.789', new Date(2026, 6, 20, 12, 34, 56, 789)],
    ['2026-12-31T23:59:59', new Date(2026, 11, 31, 23, 59, 59)],
  ];
  for (const [text, date] of cases) assert.equal(parseDateTime(text), date.getTime(), `local time ${JSON.stringify(text)}`);
  // Date only is local midnight.
  const midnight = new Date(parseDateTime('2026-03-04'));
  assert.deepEqual([midnight.getFullYear(), midnight.getMonth(), midnight.getDate(), midnight.getHours(), midnight.getMinutes()], [2026, 2, 4, 0, 0]);
});

test('parseDateTime: rejected forms', () => {
  const bad = [
    '2026-02-30',
    '2026-02-29',
    '2026-04-31',
    '2026-13-01',
    '2026-00-10',
    '2026-01-00',
    '2026-03-04T25:00:00',
    '2026-03-04T24:00:00',
    '2026-03-04T12:60:00',
    '2026-03-04T12:00:60',
    '2026-03-04T12:00',
    '2026-03-04T05:06:07+24:00',
    '2026-03-04T05:06:07+01:60',
    '2026-03-04T05:06:07+1',
    'garbage',
    'tomorrow',
    '',
    '2026-3-4',
    '26-03-04',
    '2026/03/04',
    '2026-03-04T05:06:07Z junk',
    '2026-03-04T05:06:07Zjunk',
    '2026-03-04junk',
    '2026-03-04T05:06:07.',
    '2026-03-04T05:06:07.1234567',
    '1772600767',
  ];
  for (const text of bad) assertInvalid(() => parseDateTime(text, '--start'), /--start/);
});

test('parseDateTime: a local time inside a DST gap is rejected, not moved', (t) => {
  const saved = process.env.TZ;
  t.after(() => {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  });
  process.env.TZ = 'America/New_York';
  // Only meaningful if the runtime honours TZ changes (Node does).
  assert.equal(new Date(2026, 0, 1).getTimezoneOffset(), 300);
  assertInvalid(() => parseDateTime('2026-03-08T02:30:00'), /does not exist/);
  assert.equal(parseDateTime('2026-03-08T03:30:00'), Date.UTC(2026, 2, 8, 7, 30));
  assert.equal(parseDateTime('2026-01-15T09:00:00'), Date.UTC(2026, 0, 15, 14, 0));
  assert.equal(parseDateTime('2026-07-15T09:00:00'), Date.UTC(2026, 6, 15, 13, 0));
  // With an offset there is no gap.
  assert.equal(parseDateTime('2026-03-08T02:30:00-05:00'), Date.UTC(2026, 2, 8, 7, 30));
});

test('formatIso: UTC with +00:00, milliseconds only when present', () => {
  assert.equal(formatIso(Date.UTC(2026, 0, 2, 3, 4, 5)), '2026-01-02T03:04:05+00:00');
  assert.equal(formatIso(Date.UTC(2026, 0, 2, 3, 4, 5, 7)), '2026-01-02T03:04:05.007+00:00');
  assert.equal(formatIso(Date.UTC(1999, 11, 31, 23, 59, 59, 999)), '1999-12-31T23:59:59.999+00:00');
  assert.equal(formatIsoOrNull(null), null);
  assert.equal(formatIsoOrNull(0), '1970-01-01T00:00:00+00:00');
  // Round trip through the parser.
  for (const ms of [Date.UTC(2026, 5, 1, 12), Date.UTC(2030, 1, 28, 1, 2, 3, 456)]) assert.equal(parseDateTime(formatIso(ms)), ms);
});

// ---------------------------------------------------------------------------------------
// Action URL and body

test('checkActionUrl: https anywhere, http only to loopback', () => {
  const ok = [
    'https://transfer.actions.globus.org/transfer/run',
    'https://example.org:8443/run?x=1',
    'http://127.0.0.1:8080/run',
    'http://127.5.6.7/run',
    'http://localhost/run',
    'http://localhost:9000/run',
    'http://[::1]:9000/run',
  ];
  for (const url of ok) assert.equal(checkActionUrl(url), new URL(url).toString(), url);
  const bad = [
    'http://example.org/run',
    'http://10.0.0.1/run',
    'http://192.168.1.1/run',
    'http://127.0.0.1.evil.example/run',
    'http://localhost.evil.example/run',
    'http://[::2]/run',
    'ftp://example.org/run',
    'file:///etc/passwd',
    'javascript:alert(1)',
    'https://user:secret@example.org/run',
    'https://user@example.org/run',
    'http://user:secret@127.0.0.1/run',
    'not a url',
    '',
    '/relative/run',
  ];
  for (const url of bad) assertInvalid(() => checkActionUrl(url), /action URL/);
});

test('redactUrl: a password in a URL is never shown, whichever rule refuses the URL (issue 12 item 13)', () => {
  const cases: [string, string][] = [
    ['https://alice:hunter2@example.org/run', 'https://alice:***@example.org/run'],
    // The userinfo runs to the last @ before the path, as URL parsers read it.
    ['https://alice:p@ss@example.org/run?x=1', 'https://alice:***@example.org/run?x=1'],
    // A lone name there is often a token.
    ['https://TOKEN@example.org/', 'https://***@example.org/'],
    ['https://example.org/a@b', 'https://example.org/a@b'],
    ['https://example.org:8443/run', 'https://example.org:8443/run'],
    ['GET https://a:b@x.org/ failed, then http://c:d@y.org', 'GET https://a:***@x.org/ failed, then http://c:***@y.org'],
    ['https://alice:hunter2@exa mple.org/', 'https://alice:***@exa mple.org/'],
    ['not a url', 'not a url'],
  ];
  for (const [text, shown] of cases) assert.equal(redactUrl(text), shown, text);
  for (const url of ['https://alice:hunter2@example.org/run', 'ftp://alice:hunter2@example.org/run', 'https://alice:hunter2@exa mple.org/']) {
    assertInvalid(() => checkActionUrl(url), /^(?!.*hunter2)invalid action URL "[a-z]+:\/\/alice:\*\*\*@/);
  }
});

test('checkActionBody / parseActionBody: an object with a body object', () => {
  assert.deepEqual(parseActionBody('{"body": {"a": 1}}'), { body: { a: 1 } });
  // Surrounding quotes are stripped, as the original CLI did.
  assert.deepEqual(parseActionBody(`'{"body": {"a": 1}}'`), { body: { a: 1 } });
  assert.deepEqual(parseActionBody(`"{"body": {"a": 2}}"`), { body: { a: 2 } });
  assert.deepEqual(parseActionBody('  {"body": {}}  '), { body: {} });
  // The other keys a run request allows are kept.
  const full = {
    body: { x: [1, 2] },
    label: 'nightly',
    monitor_by: ['urn:globus:auth:identity:ca73e829-715f-4522-9dec-a507fe57a661'],
    manage_by: [],
    deadline: '2030-01-01T00:00:00Z',
  };
  assert.deepEqual(parseActionBody(JSON.stringify(full)), full);
  assert.deepEqual(checkActionBody(full), full);

  for (const text of ['{', '{"body": }', "{'body': {}}", 'nope', '', '{"body": {}} x']) {
    assertInvalid(() => parseActionBody(text), /^--action-body must parse into valid JSON; got error: \S/);
  }
  assertInvalid(() => parseActionBody('{', '--action-file'), /^--action-file must parse into valid JSON; got error: /);

  const notRunRequests = ['[]', '["str"]', 'true', '42', 'null', '{}', '{"body": []}', '{"body": null}', '{"body": "x"}', '{"body": 1}', '{"Body": {}}'];
  for (const text of notRunRequests) assertInvalid(() => parseActionBody(text), /"body" object/);

  assertInvalid(() => parseActionBody('{"body": {}, "extra": 1}'), /"extra"/);
  assertInvalid(() => parseActionBody('{"body": {}, "request_id": "r1"}'), /"request_id"/);
  assertInvalid(() => checkActionBody({ body: {}, foo: 1, bar: 2 }), /"foo", "bar"/);
});

/** An action body whose objects nest exactly `depth` levels, counting the outer object. */
function nestedBody(depth: number): Record<string, unknown> {
  let inner: Record<string, unknown> = {};
  for (let i = 2; i < depth; i++) inner = { a: inner };
  return { body: inner };
}

test('checkActionBody: nesting depth is bounded, and checking it never overflows the stack', () => {
  assert.ok(checkActionBody(nestedBody(MAX_ACTION_BODY_DEPTH)));
  assertInvalid(() => checkActionBody(nestedBody(MAX_ACTION_BODY_DEPTH + 1)), /levels deep/);
  // Arrays count as levels too.
  let arr: unknown = [];
  for (let i = 0; i < MAX_ACTION_BODY_DEPTH; i++) arr = [arr];
  assertInvalid(() => checkActionBody({ body: { list: arr } }), /levels deep/);
  // A body that JSON.parse accepts but JSON.stringify could not store.
  const deep = '{"body":' + '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000) + '}';
  assertInvalid(() => parseActionBody(deep), /levels deep/);
});

test('checkName and checkStopAfterRuns', () => {
  assert.equal(checkName('  nightly sync  '), 'nightly sync');
  assert.equal(checkName('x'.repeat(255)), 'x'.repeat(255));
  for (const bad of ['', '   ', 'x'.repeat(256), 'a\nb', 'tab\there']) assertInvalid(() => checkName(bad), /name/);
  assert.equal(checkStopAfterRuns(1), 1);
  assert.equal(checkStopAfterRuns(1000), 1000);
  for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 60]) assertInvalid(() => checkStopAfterRuns(bad), /stop-after-runs/);
});

/**
 * What must never reach a terminal from a stored string (issue 11 item 7): C0, DEL, C1
 * (U+009B is a one-byte CSI) and the bidi embeddings, overrides and isolates.
 */
const UNSAFE_SAMPLES = ['\u001b[2J', '\u0007', '\u007f', '\u0085', '\u009b31m', '\u202a', '\u202e', '\u2066', '\u2069'];
const RAW_UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

test('checkName and checkLabel refuse control characters, DEL, C1 and bidi overrides; marks and other scripts pass', () => {
  for (const bad of UNSAFE_SAMPLES) {
    assertInvalid(() => checkName(`report${bad}.pdf`), /invalid job name/);
    assertInvalid(() => checkLabel(`label${bad}`), /--label/);
  }
  // RLM/LRM/ALM act as one strong letter: no more than a Hebrew or Arabic letter can do.
  for (const ok of ['\u05d3\u05d5\u05d7 \u200f2024', 'Zoë & <Bob> 💾', 'a\u200eb', '\u0627\u061c1']) {
    assert.equal(checkName(ok), ok);
    assert.equal(checkLabel(ok), ok);
  }
});

test('printable, safe`…` and jsonForTerminal: nothing unsafe survives, JSON stays the same value', () => {
  const hostile = `x${UNSAFE_SAMPLES.join('')}\ny\tz`;
  assert.doesNotMatch(printable(hostile), RAW_UNSAFE);
  assert.doesNotMatch(printable(hostile), /\n/, 'one line');
  assert.equal(printable('a\tb\nc'), 'a b c');
  assert.equal(printable('\u001b[2J'), '\ufffd[2J', 'replaced visibly, not dropped');
  assert.equal(printable('at x\n  at y\u001b', { keepNewlines: true }), 'at x\n  at y\ufffd');
  assert.equal(safe`Job ${'a\nb'} is ${'\u202e'}.\n`, 'Job a b is \ufffd.\n', 'our own newline stays, theirs does not');
  const json = jsonForTerminal(JSON.stringify({ name: hostile }, null, 2));
  assert.doesNotMatch(json, RAW_UNSAFE);
  assert.deepEqual(JSON.parse(json), { name: hostile });
  assert.match(json, /\\u009b31m.*\\u202e/);
  assert.equal(toJson({ s: '\u2066' }), '{\n  "s": "\\u2066"\n}');
});

test('daemon logs: a log entry quoting a provider is printed inert, its stack trace still on its lines', () => {
  const format = lineFormatter(false);
  const entry = { level: 50, time: 0, msg: `provider said ${UNSAFE_SAMPLES.join('')}`, err: { stack: 'Error: x\n    at y' } };
  const pretty = format(JSON.stringify(entry));
  assert.doesNotMatch(pretty, RAW_UNSAFE);
  assert.match(pretty, /provider said \ufffd\[2J/);
  assert.match(pretty, /Error: x\n +at y/);
  assert.equal(format('not json \u001b]0;title\u0007'), 'not json \ufffd]0;title\ufffd');
});

test('checkScope: Globus scope syntax, each problem named in one line (issue 11 item 6)', () => {
  const good = [
    'openid',
    'urn:globus:auth:scope:transfer.api.globus.org:all',
    'urn:globus:auth:scope:transfer.api.globus.org:all[*https://auth.globus.org/scopes/0a1b2c3d-0000-4000-8000-000000000001/data_access]',
    'https://auth.globus.org/scopes/0a1b2c3d-0000-4000-8000-000000000002/flow_0a1b_user[https://x.org/s[*a b]  *c]',
    'https://example.org/scope?x=1&y=%20#frag,more@host+~',
  ];
  for (const scope of good) assert.equal(checkScope(`  ${scope} `), scope);
  const bad: [string, RegExp][] = [
    ["x' ; touch /tmp/x ; echo '", /"'" cannot be part of a scope/],
    ['a$(id)', /"\$" cannot be part/],
    ['a`id`', /"`" cannot be part/],
    ['a;b', /";" cannot be part/],
    ['a"b', /cannot be part/],
    ['a\\b', /cannot be part/],
    ['a\u001b[2J', /U\+001B cannot be part/],
    ['a\u202eb', /U\+202E cannot be part/],
    ['a\tb', /U\+0009 cannot be part/],
    ['openid email', /a space outside \[ \]: give one scope per --scope/],
    ['', /give a Globus Auth scope string/],
    ['a[]', /empty brackets/],
    ['[a]', /'\[' must directly follow/],
    ['a [b]', /a space outside/],
    ['a[b', /'\[' has no matching '\]'/],
    ['a]', /'\]' has no matching '\['/],
    ['a[b]c', /nothing may follow/],
    ['a[b][c]', /'\[' must directly follow/],
    ['a[[b]]', /'\[' must directly follow/],
    ['*a', /'\*' \(optional\) can only mark a dependent scope/],
    ['a[b*c]', /'\*' must come right before/],
    ['a[* b]', /'\*' must be followed/],
    ['a[*]', /'\*' must be followed/],
    ['x'.repeat(MAX_SCOPE_LENGTH + 1), /longer than 2048 characters/],
  ];
  for (const [scope, re] of bad) {
    assertInvalid(() => checkScope(scope), re);
    assertInvalid(() => checkScope(scope), /^invalid --scope /);
    assert.throws(
      () => checkScope(scope),
      (err: Error) => !err.message.includes('\n'),
    );
  }
  assert.equal(checkScope('x'.repeat(MAX_SCOPE_LENGTH)).length, MAX_SCOPE_LENGTH);
  assertInvalid(
    () => checkScope('a b', 'globus_auth_scope of the provider'),
    /^invalid globus_auth_scope of the provider "a b": .* per globus_auth_scope of the provider$/,
  );
});

// ---------------------------------------------------------------------------------------
// Output layouts

test('formatInterval: Python str(timedelta)', () => {
  const cases: [number, string][] = [
    [600, '0:10:00'],
    [28_800, '8:00:00'],
    [86_400, '1 day, 0:00:00'],
    [864_000, '10 days, 0:00:00'],
    [1, '0:00:01'],
    [59, '0:00:59'],
    [7384, '2:03:04'],
    [86_399, '23:59:59'],
    [90_061, '1 day, 1:01:01'],
    [2 * 86_400 + 36_000, '2 days, 10:00:00'],
    [2_505_600, '29 days, 0:00:00'],
  ];
  for (const [seconds, text] of cases) assert.equal(formatInterval(seconds), text, `${seconds}s`);
});

test('formatTable: the reference example, byte for byte', () => {
  const text = formatTable(['Name', 'Job ID', 'Status', 'Last Result'], [['example timer', '000a11ce-0000-1000-8000-000000000001', 'loaded', 'RUN COMPLETE']]);
  assert.equal(
    text,
    [
      'Name          | Job ID                               | Status | Last Result',
      '--------------|--------------------------------------|--------|-------------',
      'example timer | 000a11ce-0000-1000-8000-000000000001 | loaded | RUN COMPLETE',
    ].join('\n'),
  );
});

test('formatTable: column widths from the widest cell, header or not', () => {
  const text = formatTable(
    ['A', 'Long header', 'C'],
    [
      ['wide cell', 'x', 'last'],
      ['y', '', 'longest last'],
    ],
  );
  assert.equal(
    text,
    ['A         | Long header | C', '----------|-------------|-------------', 'wide cell | x           | last', 'y         |             | longest last'].join(
      '\n',
    ),
  );
  // No rows: header and separator only.
  assert.equal(formatTable(['Name', 'Job ID'], []), 'Name | Job ID\n-----|-------');
  // Every line of a table has its separators at the same columns.
  const lines = text.split('\n');
  const bars = (l: string) => [...l].flatMap((c, i) => (c === '|' ? [i] : []));
  for (const l of lines) assert.deepEqual(bars(l), bars(lines[0]!));
});

test('formatRecord: keys padded to the longest key + 2; missing values print None', () => {
  assert.equal(
    formatRecord([
      ['Name', 'x'],
      ['Last Run Result', null],
      ['Next Run At', undefined],
      ['Count', 0],
      ['Flag', false],
    ]),
    ['Name:            x', 'Last Run Result: None', 'Next Run At:     None', 'Count:           0', 'Flag:            false'].join('\n'),
  );
  assert.equal(
    formatRecord([
      ['A', 1],
      ['BBB', 2],
    ]),
    'A:   1\nBBB: 2',
  );
  assert.equal(formatRecord([['Key', 'v']]), 'Key: v');
});

function run(overrides: Partial<RunResult>): RunResult {
  return {
    ran_at: '2026-01-01T00:00:00+00:00',
    status: 202,
    data: null,
    errors: null,
    slot: '2026-01-01T00:00:00+00:00',
    run_state: 'active',
    action_id: 'a1',
    action_status: 'ACTIVE',
    request_id: 'r1',
    attempts: 1,
    completed_at: null,
    ...overrides,
  };
}

function job(overrides: Partial<JobDocument> = {}): JobDocument {
  return {
    job_id: '000a11ce-0000-1000-8000-000000000001',
    name: 'example timer',
    start: '2026-01-01T00:00:00+00:00',
    interval: 600,
    cron: null,
    timezone: null,
    stop_after: null,
    scope: null,
    callback_url: 'https://example.org/run',
    callback_body: { body: {} },
    status: 'loaded',
    inactive_reason: null,
    submitted_at: '2026-01-01T00:00:00+00:00',
    last_ran_at: null,
    next_run: '2026-01-01T00:10:00+00:00',
    n_runs: 0,
    n_errors: 0,
    results: { data: [], page_next: null },
    activity: { code: 'awaiting_next_run', start_timestamp: '2026-01-01T00:00:00+00:00' },
    policy: { overlap: 'skip', misfire: 'coalesce' },
    skipped_slots: { missed: 0, overlap: 0 },
    ...overrides,
  };
}

test('lastRunResult: how the newest run really ended', () => {
  const withRuns = (...runs: RunResult[]) => job({ results: { data: runs, page_next: null } });
  assert.equal(lastRunResult(job()), 'NOT RUN');
  assert.equal(lastRunResult(withRuns(run({ run_state: 'pending', status: null, action_id: null, action_status: null, attempts: 1 }))), 'SUBMITTING');
  assert.equal(lastRunResult(withRuns(run({ run_state: 'pending', status: null, action_id: null, action_status: null, attempts: 3 }))), 'RETRYING');
  assert.equal(lastRunResult(withRuns(run({ run_state: 'active', action_status: 'ACTIVE' }))), 'ACTIVE');
  assert.equal(lastRunResult(withRuns(run({ run_state: 'active', action_status: 'INACTIVE' }))), 'INACTIVE');
  assert.equal(lastRunResult(withRuns(run({ run_state: 'active', action_status: null }))), 'ACTIVE');
  assert.equal(lastRunResult(withRuns(run({ run_state: 'succeeded', action_status: 'SUCCEEDED' }))), 'SUCCEEDED');
  assert.equal(lastRunResult(withRuns(run({ run_state: 'failed', action_status: 'FAILED' }))), 'FAILED');
  // The provider refused the submission: no action status at all.
  assert.equal(lastRunResult(withRuns(run({ run_state: 'failed', status: 400, action_id: null, action_status: null }))), 'FAILED');
  // Only the newest run (first in results.data) counts.
  assert.equal(
    lastRunResult(withRuns(run({ run_state: 'succeeded', action_status: 'SUCCEEDED' }), run({ run_state: 'failed', action_status: 'FAILED' }))),
    'SUCCEEDED',
  );
  assert.equal(
    lastRunResult(withRuns(run({ run_state: 'failed', action_status: 'FAILED' }), run({ run_state: 'succeeded', action_status: 'SUCCEEDED' }))),
    'FAILED',
  );
});

test('jobRecord: the original keys in the original order; delete prints only the first five', () => {
  const doc = job({ next_run: null });
  assert.equal(
    jobRecord(doc),
    [
      'Name:            example timer',
      'Job ID:          000a11ce-0000-1000-8000-000000000001',
      'Status:          loaded',
      'Start:           2026-01-01T00:00:00+00:00',
      'Interval:        0:10:00',
      'Next Run At:     None',
      'Last Run Result: NOT RUN',
    ].join('\n'),
  );
  assert.equal(
    jobRecord(job({ interval: 864_000 }), { short: true }),
    [
      'Name:     example timer',
      'Job ID:   000a11ce-0000-1000-8000-000000000001',
      'Status:   loaded',
      'Start:    2026-01-01T00:00:00+00:00',
      'Interval: 10 days, 0:00:00',
    ].join('\n'),
  );
});

test('jobTable and toJson', () => {
  const a = job({ results: { data: [run({ run_state: 'succeeded', action_status: 'SUCCEEDED' })], page_next: null } });
  const b = job({ job_id: 'b', name: 'b', status: 'deleted' });
  // The original columns, then Next Run relative to the given now.
  assert.equal(
    jobTable([a, { ...b, next_run: null }], Date.parse(a.next_run!) - 3_725_000),
    [
      'Name          | Job ID                               | Status  | Last Result | Next Run',
      '--------------|--------------------------------------|---------|-------------|---------',
      'example timer | 000a11ce-0000-1000-8000-000000000001 | loaded  | SUCCEEDED   | in 1h 2m',
      'b             | b                                    | deleted | NOT RUN     | -',
    ].join('\n'),
  );
  assert.equal(jobTable([]).split('\n')[0], 'Name | Job ID | Status | Last Result | Next Run');
  assert.equal(toJson({ a: [1] }), '{\n  "a": [\n    1\n  ]\n}');
  assert.deepEqual(JSON.parse(toJson(a)), a);
});

test('tailLines: the last n lines across rotated log files, none for n = 0', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-logs-'));
  try {
    fs.writeFileSync(path.join(dir, 'daemon.1.log'), 'a\nb\n');
    fs.writeFileSync(path.join(dir, 'daemon.2.log'), 'c\n\nd\n');
    fs.writeFileSync(path.join(dir, 'daemon.10.log'), 'e\n');
    fs.writeFileSync(path.join(dir, 'other.log'), 'x\n');
    assert.deepEqual(tailLines(dir, 0), []);
    assert.deepEqual(tailLines(dir, 2), ['d', 'e']);
    assert.deepEqual(tailLines(dir, 4), ['b', 'c', 'd', 'e']);
    assert.deepEqual(tailLines(dir, 100), ['a', 'b', 'c', 'd', 'e']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
