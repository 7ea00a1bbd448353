/**
 * Issue 15 item 6: the Transfer body `job transfer` sends, with every option globus-cli's
 * `timer create transfer` has, held to the recorded Timers TransferTaskDocument
 * (test/fixtures/create_timer.json) and the OAS one; and the check of an action body
 * against the provider's introspected `input_schema` at submit, through the real CLI.
 */
import assert from 'node:assert/strict';
import test, { type TestContext } from 'node:test';
import { checkedCallbackBody, inputProblems, type Introspection } from '../src/actions/introspect.ts';
import { transferParamsFromFlags, type TransferFlags } from '../src/cli/commands/job/transfer.ts';
import { ERROR_CODES, TimerError } from '../src/core/errors.ts';
import { parseItemsCsv } from '../src/core/transfer.ts';
import { startDaemon } from '../src/daemon/daemon.ts';
import { silentLogger } from '../src/log/logger.ts';
import { tokenRulesFromEnv } from '../src/auth/token-rules.ts';
import { freePort, runCliProcess, tempHome, testConfig } from './support/env.ts';
import { readFixture, startFakeProvider } from './support/provider.ts';

const SRC = 'aa752cea-8222-5bc8-acd9-555b090c0ccb';
const DST = '313ce13e-b597-5858-ae13-29e46fea26e6';
const NOW = Date.parse('2030-01-01T00:00:00Z');

type Body = Record<string, unknown> & { DATA: Record<string, unknown>[] };
const RECORDED = readFixture<{ responses: { default: { json: { timer: { body: Body } } } } }>('create_timer.json').responses.default.json.timer.body;

/**
 * The TransferTaskDocument keys the recorded body leaves out because they were not set
 * (OAS TransferTaskDocument / TransferTaskItem, reference timers-api.md §3b); with the
 * recorded keys, everything Timers accepts in a transfer body.
 */
const OAS_UNSET_KEYS = ['deadline', 'destination_local_user', 'filter_rules', 'label', 'source_local_user', 'sync_level'];
const OAS_UNSET_ITEM_KEYS = ['recursive', 'external_checksum', 'checksum_algorithm'];
/** DATA_TYPE tags are Transfer's document types; the action provider's input has none. */
const withoutTags = (keys: string[]) => keys.filter((k) => k !== 'DATA_TYPE');

function flags(over: Partial<TransferFlags> = {}): TransferFlags {
  return { name: 'nightly', interval: '1d', 'source-endpoint': SRC, 'dest-endpoint': DST, item: ['/src/a', '/dst/a', 'false'], ...over };
}

function bodyOf(over: Partial<TransferFlags> = {}, read: (p: string) => string = () => ''): Body {
  return (transferParamsFromFlags(flags(over), {}, read, NOW).callback_body as { body: Body }).body;
}

function assertInvalid(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TimerError, String(err));
    assert.equal(err.code, ERROR_CODES.INVALID_INPUT);
    assert.match(err.message, pattern);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  });
}

const EVERY_OPTION: Partial<TransferFlags> = {
  item: ['/data/file.fits', '/backup/file.fits', 'no'],
  'delete-destination-extra': true,
  include: ['*.fits', 'README*'],
  exclude: ['*'],
  'source-local-user': 'alice',
  'destination-local-user': ' archive ',
  'external-checksum': 'd41d8cd98f00b204e9800998ecf8427e',
  'checksum-algorithm': 'MD5',
  deadline: '2030-06-01T12:00:00+02:00',
  'notify-on-succeeded': true,
  'notify-on-failed': false,
  'notify-on-inactive': true,
  'sync-level': 'mtime',
  'verify-checksum': true,
};

test('every option lands in the body as the Transfer task document names it', () => {
  assert.deepEqual(bodyOf(EVERY_OPTION), {
    source_endpoint: SRC,
    destination_endpoint: DST,
    DATA: [
      {
        source_path: '/data/file.fits',
        destination_path: '/backup/file.fits',
        recursive: false,
        external_checksum: 'd41d8cd98f00b204e9800998ecf8427e',
        checksum_algorithm: 'MD5',
      },
    ],
    label: 'Job from Timer service named nightly',
    sync_level: 2,
    encrypt_data: false,
    verify_checksum: true,
    preserve_timestamp: false,
    skip_source_errors: false,
    fail_on_quota_errors: false,
    delete_destination_extra: true,
    filter_rules: [
      { DATA_TYPE: 'filter_rule', method: 'include', name: '*.fits' },
      { DATA_TYPE: 'filter_rule', method: 'include', name: 'README*' },
      { DATA_TYPE: 'filter_rule', method: 'exclude', name: '*' },
    ],
    source_local_user: 'alice',
    destination_local_user: 'archive',
    deadline: '2030-06-01T10:00:00+00:00',
    notify_on_succeeded: true,
    notify_on_failed: false,
    notify_on_inactive: true,
  });
});

test('key sets: every key sent is a recorded TransferTaskDocument key or an OAS one left unset there, with the recorded types', () => {
  const allowed = new Set([...withoutTags(Object.keys(RECORDED)), ...OAS_UNSET_KEYS]);
  const allowedItem = new Set([...withoutTags(Object.keys(RECORDED.DATA[0]!)), ...OAS_UNSET_ITEM_KEYS]);
  for (const [what, body] of [
    ['defaults', bodyOf()],
    ['every option', bodyOf(EVERY_OPTION)],
  ] as const) {
    for (const key of Object.keys(body)) {
      assert.ok(allowed.has(key), `${what}: ${key} is not a TransferTaskDocument key`);
      if (key in RECORDED) assert.equal(typeof body[key], typeof RECORDED[key], `${what}: ${key}'s type`);
    }
    for (const item of body.DATA) for (const key of Object.keys(item)) assert.ok(allowedItem.has(key), `${what}: item key ${key}`);
  }
  // The defaults: the original CLI's five booleans (false, Transfer's default too), and no
  // success mail; every other notify_* and newer key only when given.
  const defaults = bodyOf();
  assert.deepEqual(Object.keys(defaults).sort(), [
    'DATA',
    'destination_endpoint',
    'encrypt_data',
    'fail_on_quota_errors',
    'label',
    'notify_on_succeeded',
    'preserve_timestamp',
    'skip_source_errors',
    'source_endpoint',
    'verify_checksum',
  ]);
  assert.equal(defaults.notify_on_succeeded, false);
  // --no-notify-on-* sends false; --notify-on-succeeded true.
  const off = bodyOf({ 'notify-on-failed': false, 'notify-on-inactive': false, 'delete-destination-extra': false });
  assert.deepEqual([off.notify_on_failed, off.notify_on_inactive, off.delete_destination_extra], [false, false, false]);
});

test('recursive is sent only when the user says yes or no: auto (or an empty CSV value) leaves it to Transfer', () => {
  const body = bodyOf({ item: ['/a', '/b', 'auto', '/c/', '/d/', 'yes', '/e', '/f', 'AUTO'] });
  assert.deepEqual(body.DATA, [
    { source_path: '/a', destination_path: '/b' },
    { source_path: '/c/', destination_path: '/d/', recursive: true },
    { source_path: '/e', destination_path: '/f' },
  ]);
  assert.deepEqual(parseItemsCsv('/a,/b,\n/c,/d,auto,abc123\n/e,/f,no,YWJj,SHA256\n', 'f.csv'), [
    { source_path: '/a', destination_path: '/b' },
    { source_path: '/c', destination_path: '/d', external_checksum: 'abc123' },
    { source_path: '/e', destination_path: '/f', recursive: false, external_checksum: 'YWJj', checksum_algorithm: 'SHA256' },
  ]);
  // A header of any of the column counts is skipped.
  assert.equal(parseItemsCsv('source_path,destination_path,recursive,external_checksum\n/a,/b,1,ff\n', 'f.csv').length, 1);
});

test('every bad new value: a one-line usage error that says what to do', () => {
  const cases: [Partial<TransferFlags>, RegExp][] = [
    [{ include: ['*.txt'] }, /^--include has no effect without an --exclude .* add e\.g\. --exclude '\*'$/],
    [{ exclude: ['  '] }, /^invalid --exclude " {2}": give a name pattern/],
    [{ exclude: ['a\u0007'] }, /^invalid --exclude /],
    [{ 'source-local-user': '' }, /^invalid --source-local-user "": give the local account name$/],
    [{ 'destination-local-user': 'x\ny' }, /^invalid --destination-local-user /],
    [{ 'external-checksum': 'not hex!' }, /^--external-checksum: invalid external checksum "not hex!": give it as hex or base64 text$/],
    [{ 'checksum-algorithm': 'MD5' }, /^--checksum-algorithm: a checksum algorithm \("MD5"\) needs an external checksum$/],
    [{ 'external-checksum': 'ff', 'checksum-algorithm': 'md 5' }, /invalid checksum algorithm "md 5": give its name, e\.g\. MD5/],
    [
      { item: ['/a', '/b', 'no', '/c', '/d', 'no'], 'external-checksum': 'ff' },
      /^--external-checksum goes with exactly one item \(got 2\); for several, put each checksum in the items file's 4th column$/,
    ],
    [{ deadline: 'soon' }, /^invalid --deadline "soon": not a recognised format/],
    [{ deadline: '2029-12-31T23:00:00Z' }, /^invalid --deadline 2029-12-31T23:00:00\+00:00: it is not after now .* every run would fail$/],
    [{ deadline: '2030-01-05T00:00:00Z', start: '2030-02-01T00:00:00Z' }, /^invalid --deadline .*: it is not after the start \(2030-02-01T00:00:00\+00:00\)/],
    [{ item: ['/a', '/b', 'maybe'] }, /^--item 1: invalid RECURSIVE value "maybe": .* or auto to let Transfer tell files from directories$/],
  ];
  for (const [over, pattern] of cases) assertInvalid(() => bodyOf(over), pattern);
  assertInvalid(() => parseItemsCsv('/a,/b,no,,SHA1\n', 'f.csv'), /^f\.csv line 1: a checksum algorithm \("SHA1"\) needs an external checksum$/);
  assertInvalid(() => bodyOf({ item: undefined, 'items-file': 'f.csv', 'external-checksum': 'ff' }, () => '/a,/b,no,ee\n'), /already has a checksum/);
});

// --- the introspected input schema ---------------------------------------------------------

const doc = (input_schema: unknown): Introspection => ({ kind: 'document', base: 'https://ap.example.org/transfer', doc: { input_schema } });
const SCHEMA = {
  type: 'object',
  required: ['source_endpoint', 'DATA'],
  additionalProperties: false,
  properties: {
    source_endpoint: { type: 'string' },
    DATA: { type: 'array', items: { type: 'object', required: ['source_path'] } },
    sync_level: { enum: [0, 1, 2, 3] },
    recursive_symlinks: { type: 'string' },
  },
};

test('checkedCallbackBody: refuses what the schema refuses, listing every problem; keeps recursive_symlinks only where listed', () => {
  const ok = { body: { source_endpoint: SRC, DATA: [{ source_path: '/a' }], recursive_symlinks: 'keep' } };
  assert.deepEqual(checkedCallbackBody(doc(SCHEMA), ok, { recursive_symlinks: '--recursive-symlinks' }), { callbackBody: ok, notices: [] });
  assertInvalid(
    () => checkedCallbackBody(doc(SCHEMA), { body: { DATA: [{}], sync_level: 7, colour: 'red' } }),
    /^the provider at https:\/\/ap\.example\.org\/transfer\/ would refuse this action body: body: "source_endpoint" is required; body: "colour" is not allowed; body\.DATA\[0\]: "source_path" is required; body\.sync_level: must be one of 0, 1, 2, 3$/,
  );
  // Not listed: dropped, said in one line; the rest is still checked.
  const { recursive_symlinks: _, ...rest } = ok.body;
  const unlisted = checkedCallbackBody(doc({ type: 'object' }), ok, { recursive_symlinks: '--recursive-symlinks' });
  assert.deepEqual(unlisted.callbackBody, { body: rest });
  assert.deepEqual(unlisted.notices, [
    "globus-timer: --recursive-symlinks not sent: the provider's input schema at https://ap.example.org/transfer/ does not list recursive_symlinks",
  ]);
  // No document: nothing refused, the schema-only key still not sent.
  const unreadable = checkedCallbackBody({ kind: 'unreadable', base: 'https://ap.example.org/transfer', why: 'cannot reach ap.example.org' }, ok, {
    recursive_symlinks: '--recursive-symlinks',
  });
  assert.deepEqual(unreadable.callbackBody, { body: rest });
  assert.match(
    unreadable.notices[0]!,
    /^globus-timer: --recursive-symlinks not sent: the provider's input schema could not be read \(cannot reach ap\.example\.org\)/,
  );
  // A schema Ajv cannot use (a broken $ref), or none: the body goes unchecked.
  assert.equal(inputProblems({ $ref: '#/nowhere' }, {}), null);
  assert.deepEqual(checkedCallbackBody(doc({ $ref: '#/nowhere' }), { body: { x: 1 } }).callbackBody, { body: { x: 1 } });
  assert.deepEqual(checkedCallbackBody(doc(undefined), { body: { x: 1 } }).callbackBody, { body: { x: 1 } });
  // A draft 2020-12 schema names its draft; the keywords it shares with draft-07 still check.
  assert.deepEqual(inputProblems({ $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object', required: ['a'] }, {}), ['body: "a" is required']);
});

// --- end to end: the real CLI ---------------------------------------------------------------

/** A home with a running daemon (in process) and a CLI environment that needs no login. */
async function submitHome(t: TestContext, transferRunUrl: string) {
  const { env: base, paths } = tempHome(t);
  const env: NodeJS.ProcessEnv = {
    ...base,
    GLOBUS_TIMER_TRANSFER_ACTION_URL: transferRunUrl,
    GLOBUS_TIMER_NO_AUTOSTART: '1',
    // A confidential client needs no user consent; the start is far off, so no run and no token.
    GLOBUS_TIMER_CLIENT_ID: '000a11ce-0000-1000-8000-0000000000cc',
    GLOBUS_TIMER_CLIENT_SECRET: 'test-secret',
  };
  const daemon = await startDaemon({ paths, config: testConfig(), log: silentLogger(), tokenRules: tokenRulesFromEnv(env) });
  t.after(() => daemon.stop());
  return { env, daemon };
}

const transferArgs = (...extra: string[]) => [
  'job',
  'transfer',
  '--name',
  'nightly',
  '--interval',
  '1d',
  '--start',
  '2099-01-01T00:00:00Z',
  '--source-endpoint',
  SRC,
  '--dest-endpoint',
  DST,
  '--item',
  '/src/a',
  '/dst/a',
  'auto',
  ...extra,
];

test('at submit, a body the introspected input_schema refuses is exit 2 naming the problems, and no job is made', async (t) => {
  const ap = await startFakeProvider();
  t.after(() => ap.close());
  // This provider takes no filter rules, and sync levels up to 2 only.
  ap.inputSchema = {
    type: 'object',
    additionalProperties: false,
    properties: Object.fromEntries(
      [
        'source_endpoint',
        'destination_endpoint',
        'DATA',
        'label',
        'encrypt_data',
        'verify_checksum',
        'preserve_timestamp',
        'skip_source_errors',
        'fail_on_quota_errors',
        'notify_on_succeeded',
        'recursive_symlinks',
      ]
        .map((k) => [k, {}] as [string, object])
        .concat([['sync_level', { enum: [0, 1, 2] }]]),
    ),
  };
  const { env, daemon } = await submitHome(t, ap.runUrl);

  const refused = await runCliProcess(transferArgs('--exclude', '*.tmp', '--sync-level', 'checksum'), env);
  assert.equal(refused.code, 2, refused.stderr);
  assert.equal(
    refused.stderr,
    `globus-timer: the provider at ${ap.baseUrl}/ would refuse this action body: body: "filter_rules" is not allowed; body.sync_level: must be one of 0, 1, 2\n`,
  );
  assert.equal(refused.stdout, '');
  assert.equal(daemon.service.list({}).jobs.length, 0, 'no job made');
  const introspections = ap.requests.filter((r) => r.method === 'GET');
  assert.equal(introspections.length, 1);
  assert.equal(introspections[0]!.headers.authorization, undefined, 'introspection carries no token');

  // The same job within what the schema takes goes through, recursive_symlinks kept (listed).
  const ok = await runCliProcess([...transferArgs('--sync-level', '2', '--recursive-symlinks', 'keep'), '--format', 'json'], env);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stderr, '');
  const job = daemon.service.get((JSON.parse(ok.stdout) as { job_id: string }).job_id);
  const body = (job.callback_body as { body: Body }).body;
  assert.equal(body.recursive_symlinks, 'keep');
  assert.deepEqual(body.DATA, [{ source_path: '/src/a', destination_path: '/dst/a' }]);

  // job submit is held to the same schema.
  const submit = await runCliProcess(
    [
      'job',
      'submit',
      '--name',
      'raw',
      '--interval',
      '1d',
      '--start',
      '2099-01-01T00:00:00Z',
      '--action-url',
      ap.runUrl,
      '--action-body',
      '{"body": {"colour": "red"}}',
      '--no-scope',
    ],
    env,
  );
  assert.equal(submit.code, 2, submit.stderr);
  assert.match(submit.stderr, /^globus-timer: the provider at .* would refuse this action body: body: "colour" is not allowed\n$/);
  assert.equal(daemon.service.list({}).jobs.length, 1);
});

test('at submit, an unreachable introspection document: the job is made, and --recursive-symlinks is not sent (one line says so)', async (t) => {
  const runUrl = `http://127.0.0.1:${await freePort()}/transfer/run`;
  const { env, daemon } = await submitHome(t, runUrl);
  const filters = ['--exclude', '*', '--include', '*.fits', '--include', 'README*'];
  const r = await runCliProcess([...transferArgs('--recursive-symlinks', 'copy', ...filters), '--format', 'json'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /^globus-timer: --recursive-symlinks not sent: the provider's input schema could not be read \(cannot reach 127\.0\.0\.1:\d+: .*\), so it is not known to take recursive_symlinks\n$/,
  );
  const job = daemon.service.get((JSON.parse(r.stdout) as { job_id: string }).job_id);
  const body = (job.callback_body as { body: Body }).body;
  assert.equal('recursive_symlinks' in body, false);
  // Every --include before every --exclude, whatever the order typed (core/transfer.ts filterRules).
  assert.deepEqual(body.filter_rules, [
    { DATA_TYPE: 'filter_rule', method: 'include', name: '*.fits' },
    { DATA_TYPE: 'filter_rule', method: 'include', name: 'README*' },
    { DATA_TYPE: 'filter_rule', method: 'exclude', name: '*' },
  ]);
  assert.equal(body.notify_on_succeeded, false);
});
