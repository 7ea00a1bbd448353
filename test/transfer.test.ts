/**
 * `job transfer`: the Transfer action body built from flags (checked against recorded
 * payloads in test/fixtures), the items CSV, the data_access scope, and the CLI's answer to
 * every bad flag (exit 2, one line on stderr, nothing submitted).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { type TestContext } from 'node:test';
import { TRANSFER_SCOPE } from '../src/core/scopes.ts';
import { transferParamsFromFlags, type TransferFlags } from '../src/cli/commands/job/transfer.ts';
import { runCli } from '../src/cli/main.ts';
import { ALLOW_HTTP_TOKENS_ENV, tokenRulesFromEnv } from '../src/auth/token-rules.ts';
import { resolvePaths } from '../src/config/paths.ts';
import { startDaemon } from '../src/daemon/daemon.ts';
import { ERROR_CODES, TimerError } from '../src/core/errors.ts';
import { TRANSFER_ACTION_URL, buildTransferBody, parseItemsCsv, transferActionUrl, transferScopeFor } from '../src/core/transfer.ts';
import { silentLogger } from '../src/log/logger.ts';
import { testConfig } from './support/env.ts';

const FIXTURES = new URL('./fixtures/', import.meta.url);

function readFixture<T>(name: string): T {
  return JSON.parse(fs.readFileSync(new URL(name, FIXTURES), 'utf8')) as T;
}

interface V1Timer {
  name: string;
  start: string;
  interval: number;
  callback_body: { body: Record<string, unknown> & { source_endpoint_id: string; destination_endpoint_id: string } };
}
const V1_TIMER = readFixture<{ V1_TIMER: V1Timer }>('_common.json').V1_TIMER;
const CREATE_TIMER = readFixture<{ responses: { default: { json: { timer: { body: { DATA: Record<string, unknown>[] } } } } } }>('create_timer.json');

const SRC = V1_TIMER.callback_body.body.source_endpoint_id;
const DST = V1_TIMER.callback_body.body.destination_endpoint_id;
const COLLECTION_A = '000a11ce-0000-1000-8000-00000000000a';
const COLLECTION_B = '000a11ce-0000-1000-8000-00000000000b';

/** The field renames from the legacy provider to the current one (reference §1). */
const RENAMES: Record<string, string> = {
  transfer_items: 'DATA',
  source_endpoint_id: 'source_endpoint',
  destination_endpoint_id: 'destination_endpoint',
};
const BOOLEAN_FIELDS = ['encrypt_data', 'verify_checksum', 'preserve_timestamp', 'skip_source_errors', 'fail_on_quota_errors'];

/** Minimal valid flags; `over` replaces or adds. */
function flags(over: Partial<TransferFlags> = {}): TransferFlags {
  return {
    name: 'nightly',
    interval: '1d',
    'source-endpoint': SRC,
    'dest-endpoint': DST,
    item: ['/src/a', '/dst/a', 'false'],
    ...over,
  };
}

const noFile = (p: string): string => {
  throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
};

function assertInvalid(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TimerError, `not a TimerError: ${String(err)}`);
    assert.equal(err.code, ERROR_CODES.INVALID_INPUT);
    assert.match(err.message, pattern);
    return true;
  });
}

// (a) ------------------------------------------------------------------------------------

test("the body for V1_TIMER's flags is its legacy body with the documented renames", () => {
  const legacy = V1_TIMER.callback_body.body;
  const items = legacy.transfer_items as { source_path: string; destination_path: string; recursive: boolean }[];
  const params = transferParamsFromFlags(
    {
      name: V1_TIMER.name,
      interval: '10d',
      start: V1_TIMER.start,
      'source-endpoint': SRC,
      'dest-endpoint': DST,
      item: items.flatMap((i) => [i.source_path, i.destination_path, String(i.recursive)]),
      label: legacy.label as string,
      'sync-level': String(legacy.sync_level),
      'skip-source-errors': true,
      'verify-checksum': true,
    },
    {},
    noFile,
  );
  const expected: Record<string, unknown> = Object.fromEntries(Object.entries(legacy).map(([k, v]) => [RENAMES[k] ?? k, v]));
  for (const field of BOOLEAN_FIELDS) expected[field] ??= false;
  // Issue 15 item 6: a scheduled transfer does not e-mail on every success unless asked.
  expected.notify_on_succeeded = false;
  assert.deepEqual(params.callback_body, { body: expected });

  assert.equal(params.name, V1_TIMER.name);
  assert.equal(params.start, V1_TIMER.start);
  assert.equal(params.interval_seconds, V1_TIMER.interval);
  assert.equal(params.callback_url, TRANSFER_ACTION_URL);
  assert.equal(params.scope, TRANSFER_SCOPE);
  assert.equal(params.stop_after, null);
  assert.deepEqual(params.policy, {});
});

// (b) ------------------------------------------------------------------------------------

test('DATA items have the recorded DATA item keys plus recursive', () => {
  const recorded = CREATE_TIMER.responses.default.json.timer.body.DATA[0]!;
  // DATA_TYPE is a document type tag Transfer adds, not data; the action provider's
  // documented input has items of source_path and destination_path only.
  const expectedKeys = [...Object.keys(recorded).filter((k) => k !== 'DATA_TYPE'), 'recursive'].sort();
  assert.deepEqual(expectedKeys, ['destination_path', 'recursive', 'source_path']);
  const params = transferParamsFromFlags(
    flags({ item: [recorded.source_path as string, recorded.destination_path as string, 'no', '/dir/', '/out/', 'YES'] }),
    {},
    noFile,
  );
  const body = (params.callback_body as { body: { DATA: Record<string, unknown>[] } }).body;
  assert.equal(body.DATA.length, 2);
  for (const item of body.DATA) assert.deepEqual(Object.keys(item).sort(), expectedKeys);
  assert.deepEqual(body.DATA[0], { source_path: recorded.source_path, destination_path: recorded.destination_path, recursive: false });
  assert.deepEqual(body.DATA[1], { source_path: '/dir/', destination_path: '/out/', recursive: true });
});

test('defaults: label from the job name, no sync_level or recursive_symlinks, booleans false, no success mail', () => {
  const { body } = buildTransferBody({
    name: 'nightly',
    sourceEndpoint: SRC,
    destinationEndpoint: DST,
    items: [{ source_path: '/a', destination_path: '/b', recursive: false }],
  });
  assert.deepEqual(body, {
    source_endpoint: SRC,
    destination_endpoint: DST,
    DATA: [{ source_path: '/a', destination_path: '/b', recursive: false }],
    label: 'Job from Timer service named nightly',
    encrypt_data: false,
    verify_checksum: false,
    preserve_timestamp: false,
    skip_source_errors: false,
    fail_on_quota_errors: false,
    notify_on_succeeded: false,
  });
  // A long job name is allowed; the default label is cut to Transfer's 128 characters.
  const long = buildTransferBody({ name: 'x'.repeat(200), sourceEndpoint: SRC, destinationEndpoint: DST, items: body.DATA }).body.label;
  assert.equal(long.length, 128);
  assert.ok(long.startsWith('Job from Timer service named xxx'));
});

test('every option lands in the body; sync level 0 is kept; names map to levels', () => {
  const p = transferParamsFromFlags(
    flags({
      label: '  weekly (archive), v1.2  ',
      'sync-level': '0',
      'encrypt-data': true,
      'verify-checksum': true,
      'preserve-timestamp': true,
      'skip-source-errors': true,
      'fail-on-quota-errors': true,
      'recursive-symlinks': 'keep',
      'source-endpoint': SRC.toUpperCase(),
      'stop-after-runs': '3',
      overlap: 'allow',
      misfire: 'skip',
    }),
    {},
    noFile,
  );
  const body = (p.callback_body as { body: Record<string, unknown> }).body;
  assert.equal(body.label, 'weekly (archive), v1.2');
  assert.equal(body.sync_level, 0);
  assert.equal(body.recursive_symlinks, 'keep');
  assert.equal(body.source_endpoint, SRC, 'UUIDs are lower-cased');
  for (const field of BOOLEAN_FIELDS) assert.equal(body[field], true, field);
  assert.deepEqual(p.stop_after, { date: null, n_runs: 3 });
  assert.deepEqual(p.policy, { overlap: 'allow', misfire: 'skip' });
  for (const [name, level] of [
    ['exists', 0],
    ['size', 1],
    ['mtime', 2],
    ['CHECKSUM', 3],
  ] as const) {
    const b = transferParamsFromFlags(flags({ 'sync-level': name }), {}, noFile).callback_body as { body: Record<string, unknown> };
    assert.equal(b.body.sync_level, level);
  }
});

test("--item and --items-file together: the --item items first, then the file's", () => {
  const read = (p: string) => {
    assert.equal(p, 'items.csv');
    return '/f/1,/g/1,true\n';
  };
  const p = transferParamsFromFlags(flags({ 'items-file': 'items.csv' }), {}, read);
  assert.deepEqual((p.callback_body as { body: { DATA: unknown[] } }).body.DATA, [
    { source_path: '/src/a', destination_path: '/dst/a', recursive: false },
    { source_path: '/f/1', destination_path: '/g/1', recursive: true },
  ]);
  const fileOnly = transferParamsFromFlags(flags({ item: undefined, 'items-file': 'items.csv' }), {}, read);
  assert.equal((fileOnly.callback_body as { body: { DATA: unknown[] } }).body.DATA.length, 1);
});

test('GLOBUS_TIMER_TRANSFER_ACTION_URL overrides the run URL, and is checked', () => {
  assert.equal(transferActionUrl({}), TRANSFER_ACTION_URL);
  assert.equal(transferActionUrl({ GLOBUS_TIMER_TRANSFER_ACTION_URL: '' }), TRANSFER_ACTION_URL);
  assert.equal(transferActionUrl({ GLOBUS_TIMER_TRANSFER_ACTION_URL: 'http://127.0.0.1:8123/transfer/run' }), 'http://127.0.0.1:8123/transfer/run');
  const p = transferParamsFromFlags(flags(), { GLOBUS_TIMER_TRANSFER_ACTION_URL: 'http://localhost:9/run' }, noFile);
  assert.equal(p.callback_url, 'http://localhost:9/run');
  assertInvalid(() => transferActionUrl({ GLOBUS_TIMER_TRANSFER_ACTION_URL: 'http://example.org/run' }), /^GLOBUS_TIMER_TRANSFER_ACTION_URL: .*https/);
});

// (c) ------------------------------------------------------------------------------------

test('items CSV: comments, blank lines, header, trimming, quoting, line endings', () => {
  const text = [
    '\uFEFFsource_path,destination_path,recursive',
    '# a comment, with commas',
    '',
    '  /plain/file , /dest/file , Yes ',
    '   # an indented comment',
    '"/with, comma","/quoted ""name""",off',
    ' "  spaced  " , /d ,  0',
    '/dir/,/out/,T\r',
    '/x,"",1',
  ].join('\n');
  assertInvalid(() => parseItemsCsv(text, 'items.csv'), /^items\.csv line 9: the destination path is empty$/);
  const items = parseItemsCsv(text.split('\n').slice(0, -1).join('\r\n') + '\r\n\r\n', 'items.csv');
  assert.deepEqual(items, [
    { source_path: '/plain/file', destination_path: '/dest/file', recursive: true },
    { source_path: '/with, comma', destination_path: '/quoted "name"', recursive: false },
    { source_path: '  spaced  ', destination_path: '/d', recursive: false },
    { source_path: '/dir/', destination_path: '/out/', recursive: true },
  ]);
});

test('items CSV: every yes/no word, any case', () => {
  const words = { y: true, yes: true, t: true, true: true, on: true, 1: true, n: false, no: false, f: false, false: false, off: false, 0: false };
  for (const [word, value] of Object.entries(words)) {
    for (const spelled of [word, word.toUpperCase()]) {
      assert.deepEqual(parseItemsCsv(`/a,/b,${spelled}`, 'f.csv'), [{ source_path: '/a', destination_path: '/b', recursive: value }], spelled);
    }
  }
});

test('items CSV: errors name the file, the line and the value', () => {
  const cases: [string, RegExp][] = [
    ['/a,/b,true\n# c\n/c,/d,maybe\n', /^my items\.csv line 3: invalid recursive value "maybe": use one of y, yes/],
    // Columns 4 and 5 (issue 15 item 6) are the item's external checksum and its algorithm.
    [
      '/a,/b,true\n/c,/d\n',
      /^my items\.csv line 2: expected 3 to 5 values \(source_path,destination_path,recursive\[,external_checksum,checksum_algorithm\]\), got 2: "\/c,\/d"$/,
    ],
    ['/a,/b,true,abc,MD5,extra\n', /^my items\.csv line 1: expected 3 to 5 values .* got 6/],
    ['"/a,/b,true\n', /^my items\.csv line 1: unterminated quoted value$/],
    ['"/a"x,/b,true\n', /^my items\.csv line 1: text after a closing quote/],
    ['/a"b,/b,true\n', /^my items\.csv line 1: a quote inside an unquoted value/],
    [',/b,true\n', /^my items\.csv line 1: the source path is empty$/],
    ['/a\u0007,/b,true\n', /^my items\.csv line 1: the source path .* control character$/],
    ['# only a comment\n\n', /^my items\.csv: no transfer items in the file$/],
    ['', /^my items\.csv: no transfer items in the file$/],
    // A header is recognised only as the first record.
    ['/a,/b,true\nsource_path,destination_path,recursive\n', /^my items\.csv line 2: invalid recursive value "recursive"/],
  ];
  for (const [text, pattern] of cases) assertInvalid(() => parseItemsCsv(text, 'my items.csv'), pattern);
});

test('--items-file: an unreadable file or a bad line is a usage error naming it', () => {
  assertInvalid(
    () => transferParamsFromFlags(flags({ item: undefined, 'items-file': 'gone.csv' }), {}, noFile),
    /^cannot read --items-file gone\.csv: no such file$/,
  );
  assertInvalid(
    () => transferParamsFromFlags(flags({ item: undefined, 'items-file': 'bad.csv' }), {}, () => '/a,/b,perhaps'),
    /^bad\.csv line 1: invalid recursive value "perhaps"/,
  );
});

// (e) ------------------------------------------------------------------------------------

test('--data-access: the transfer scope with one data_access dependency per collection', () => {
  assert.equal(transferScopeFor([]), 'urn:globus:auth:scope:transfer.api.globus.org:all');
  assert.equal(
    transferScopeFor([COLLECTION_A]),
    `urn:globus:auth:scope:transfer.api.globus.org:all[*https://auth.globus.org/scopes/${COLLECTION_A}/data_access]`,
  );
  assert.equal(
    transferScopeFor([COLLECTION_A, ` ${COLLECTION_B.toUpperCase()} `, COLLECTION_A]),
    `urn:globus:auth:scope:transfer.api.globus.org:all[*https://auth.globus.org/scopes/${COLLECTION_A}/data_access *https://auth.globus.org/scopes/${COLLECTION_B}/data_access]`,
  );
  const p = transferParamsFromFlags(flags({ 'data-access': [COLLECTION_B] }), {}, noFile);
  assert.equal(p.scope, `${TRANSFER_SCOPE}[*https://auth.globus.org/scopes/${COLLECTION_B}/data_access]`);
  assertInvalid(() => transferScopeFor(['my-collection']), /^invalid --data-access "my-collection": give the collection's UUID/);
});

// (d) and the command end to end ---------------------------------------------------------

interface CliRun {
  code: number;
  out: string[];
  err: string[];
}

async function cli(env: NodeJS.ProcessEnv, args: string[]): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { out: (s) => out.push(s), err: (s) => err.push(s), env });
  return { code, out, err };
}

/** A temporary GLOBUS_TIMER_HOME with no daemon and autostart off: a submit fails with exit 1. */
function emptyHome(t: TestContext): NodeJS.ProcessEnv {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-'));
  t.after(() => fs.rmSync(home, { recursive: true, force: true }));
  const env: NodeJS.ProcessEnv = { ...process.env, GLOBUS_TIMER_HOME: home, GLOBUS_TIMER_NO_AUTOSTART: '1' };
  for (const name of ['GLOBUS_TIMER_TRANSFER_ACTION_URL', 'GLOBUS_TIMER_LOG_LEVEL', 'GLOBUS_TIMER_CLIENT_ID', 'GLOBUS_TIMER_CLIENT_SECRET']) delete env[name];
  return env;
}

const FUTURE = '2099-01-01T00:00:00Z';

/** A valid `job transfer` command line; `over` replaces flags (null drops one). */
function transferArgs(over: Record<string, string | string[] | null> = {}): string[] {
  const all: Record<string, string | string[] | null> = {
    '--name': 'nightly',
    '--interval': '1d',
    '--start': FUTURE,
    '--source-endpoint': SRC,
    '--dest-endpoint': DST,
    '--item': ['/src/a', '/dst/a', 'false'],
    ...over,
  };
  const args = ['job', 'transfer'];
  for (const [flag, value] of Object.entries(all)) if (value !== null) args.push(flag, ...(Array.isArray(value) ? value : [value]));
  return args;
}

test('valid flags pass validation: exit 1 here (no consent or no daemon), not 2', async (t) => {
  const env = emptyHome(t);
  const variants: Record<string, string | string[] | null>[] = [
    {},
    { '--item': null, '-i': ['/a', '/b', 'yes'], '--start': null, '--start-time': FUTURE },
    { '--data-access': [COLLECTION_A, COLLECTION_B], '--sync-level': '2', '--recursive-symlinks': 'copy' },
  ];
  for (const over of variants) {
    const r = await cli(env, transferArgs(over));
    // submitJob checks consent to the job's scope first (no login here), then the daemon.
    assert.equal(r.code, 1, JSON.stringify(r.err));
    assert.match(r.err.join('\n'), /not consented to scope urn:globus:auth:scope:transfer\.api\.globus\.org:all|daemon not running/);
  }
});

test('every bad flag: exit 2, one line on stderr, nothing submitted', async (t) => {
  const env = emptyHome(t);
  const badCsv = path.join(env.GLOBUS_TIMER_HOME!, 'bad.csv');
  fs.writeFileSync(badCsv, '/a,/b,true\n/c,/d,sometimes\n');
  const cases: [string, string[], NodeJS.ProcessEnv?][] = [
    ['no items', transferArgs({ '--item': null })],
    ['missing --name', transferArgs({ '--name': null })],
    ['missing --interval', transferArgs({ '--interval': null })],
    ['missing --source-endpoint', transferArgs({ '--source-endpoint': null })],
    ['missing --dest-endpoint', transferArgs({ '--dest-endpoint': null })],
    ['--name twice', [...transferArgs(), '--name', 'again']],
    ['--source-endpoint not a UUID', transferArgs({ '--source-endpoint': 'go#ep1' })],
    ['--dest-endpoint not a UUID', transferArgs({ '--dest-endpoint': '313ce13e-b597-5858-ae13' })],
    ['--item with 2 values', transferArgs({ '--item': ['/a', '/b'] })],
    ['--item with 2 values then a flag', [...transferArgs({ '--item': null }), '--item', '/a', '/b', '-v']],
    ['--item bad RECURSIVE', transferArgs({ '--item': ['/a', '/b', 'sometimes'] })],
    ['--item empty path', transferArgs({ '--item': ['', '/b', 'no'] })],
    ['--items-file missing', transferArgs({ '--item': null, '--items-file': path.join(env.GLOBUS_TIMER_HOME!, 'nope.csv') })],
    ['--items-file bad line', transferArgs({ '--items-file': badCsv })],
    ['--sync-level 4', transferArgs({ '--sync-level': '4' })],
    ['--sync-level -1', transferArgs({ '--sync-level=-1': [] })],
    ['--sync-level 1.5', transferArgs({ '--sync-level': '1.5' })],
    ['--sync-level word', transferArgs({ '--sync-level': 'always' })],
    ['--recursive-symlinks bad', transferArgs({ '--recursive-symlinks': 'follow' })],
    ['--label empty', transferArgs({ '--label': '  ' })],
    ['--label too long', transferArgs({ '--label': 'l'.repeat(129) })],
    ['--label control character', transferArgs({ '--label': 'a\nb' })],
    ['--interval bad', transferArgs({ '--interval': '1m2d' })],
    ['--start bad', transferArgs({ '--start': 'tomorrow' })],
    ['--stop-after-date bad', transferArgs({ '--stop-after-date': '2099-13-01' })],
    ['--stop-after-runs 0', transferArgs({ '--stop-after-runs': '0' })],
    ['--stop-after-runs word', transferArgs({ '--stop-after-runs': 'five' })],
    ['--overlap bad', transferArgs({ '--overlap': 'queue' })],
    ['--misfire bad', transferArgs({ '--misfire': 'all' })],
    ['--data-access not a UUID', transferArgs({ '--data-access': 'my-collection' })],
    ['unknown flag', transferArgs({ '--delete-extra': [] })],
    ['bad GLOBUS_TIMER_TRANSFER_ACTION_URL', transferArgs(), { GLOBUS_TIMER_TRANSFER_ACTION_URL: 'http://example.org/transfer/run' }],
  ];
  for (const [what, args, extraEnv] of cases) {
    const r = await cli({ ...env, ...extraEnv }, args);
    assert.equal(r.code, 2, `${what}: exit ${r.code}, stderr ${JSON.stringify(r.err)}`);
    assert.equal(r.err.length, 1, `${what}: ${JSON.stringify(r.err)}`);
    assert.match(r.err[0]!, /^globus-timer: [^\n]+$/, what);
    assert.doesNotMatch(r.err[0]!, /daemon|consent/, `${what}: got past validation`);
    assert.deepEqual(r.out, [], what);
  }
  const none = await cli(env, transferArgs({ '--item': null }));
  assert.deepEqual(none.err, ['globus-timer: Must provide at least one of the following options: --item/-i, --items-file']);
  const bad = await cli(env, transferArgs({ '--items-file': badCsv }));
  assert.match(bad.err[0]!, new RegExp(`${badCsv.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} line 2: invalid recursive value "sometimes"`));
  const endpoint = await cli(env, transferArgs({ '--dest-endpoint': 'go#ep2' }));
  assert.match(endpoint.err[0]!, /invalid --dest-endpoint "go#ep2"/);
});

test('job transfer submits the job to the daemon and prints it', async (t) => {
  const env = emptyHome(t);
  // As a confidential client the CLI needs no user consent (session.ts ensureConsent); the
  // start is far off, so no run (and no token request) happens.
  const runEnv = {
    ...env,
    GLOBUS_TIMER_TRANSFER_ACTION_URL: 'http://127.0.0.1:1/transfer/run',
    GLOBUS_TIMER_CLIENT_ID: '000a11ce-0000-1000-8000-0000000000cc',
    GLOBUS_TIMER_CLIENT_SECRET: 'test-secret',
    [ALLOW_HTTP_TOKENS_ENV]: '1',
  };
  // The daemon's token rules, from the environment it would have been started with: the
  // Transfer token may go to the loopback stand-in of the Transfer Action Provider.
  const daemon = await startDaemon({ paths: resolvePaths(env), config: testConfig(), log: silentLogger(), tokenRules: tokenRulesFromEnv(runEnv) });
  t.after(() => daemon.stop());
  const csv = path.join(env.GLOBUS_TIMER_HOME!, 'items.csv');
  fs.writeFileSync(csv, '# nightly set\n"/data/a, b/",/backup/,yes\n');
  const r = await cli(runEnv, [
    ...transferArgs({ '--items-file': csv, '--sync-level': 'checksum', '--data-access': COLLECTION_A }),
    '--verify-checksum',
    '--stop-after-runs',
    '2',
    '-v',
  ]);
  assert.equal(r.code, 0, JSON.stringify(r.err));
  const printed = JSON.parse(r.out.join('\n')) as { job_id: string };
  const doc = daemon.service.get(printed.job_id);
  assert.equal(doc.name, 'nightly');
  assert.equal(doc.start, '2099-01-01T00:00:00+00:00');
  assert.equal(doc.interval, 86_400);
  assert.equal(doc.callback_url, 'http://127.0.0.1:1/transfer/run');
  assert.equal(doc.scope, `${TRANSFER_SCOPE}[*https://auth.globus.org/scopes/${COLLECTION_A}/data_access]`);
  assert.deepEqual(doc.stop_after, { date: null, n_runs: 2 });
  assert.deepEqual(doc.callback_body, {
    body: {
      source_endpoint: SRC,
      destination_endpoint: DST,
      DATA: [
        { source_path: '/src/a', destination_path: '/dst/a', recursive: false },
        { source_path: '/data/a, b/', destination_path: '/backup/', recursive: true },
      ],
      label: 'Job from Timer service named nightly',
      sync_level: 3,
      encrypt_data: false,
      verify_checksum: true,
      preserve_timestamp: false,
      skip_source_errors: false,
      fail_on_quota_errors: false,
      notify_on_succeeded: false,
    },
  });
});
