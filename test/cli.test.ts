/**
 * The `globus-timer` CLI run in-process through `runCli(argv, io)` against an in-process
 * daemon, plus a few real subprocesses (bin/globus-timer.js) for what only a process
 * shows: what reaches the real stdout/stderr, and the exit code.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { after, type TestContext } from 'node:test';
import { runCli } from '../src/cli/main.ts';
import { resolvePaths } from '../src/config/paths.ts';
import { startDaemon, type Daemon } from '../src/daemon/daemon.ts';
import { silentLogger } from '../src/log/logger.ts';
import type { JobDocument, SubmitJobParams } from '../src/rpc/protocol.ts';
import { VERSION } from '../src/package-root.ts';
import { ROOT, runCliProcess, testConfig } from './support/env.ts';
import { startFakeProvider } from './support/provider.ts';

// `job submit` without --scope reads the scope from the provider's introspection document,
// so submissions need a provider that answers (it names no scope: no login needed).
const provider = await startFakeProvider();
after(() => provider.close());

interface Home {
  home: string;
  env: NodeJS.ProcessEnv;
}

/**
 * A fresh, short GLOBUS_TIMER_HOME (a socket path must stay under 108 bytes), removed after
 * the test `t` if given; without `t` the caller removes it.
 */
function makeHome(t: TestContext | null): Home {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-'));
  if (t) t.after(() => fs.rmSync(home, { recursive: true, force: true }));
  // Autostart off: these tests are about the CLI against a daemon they control (autostart
  // has its own tests in service-control.test.ts).
  const env: NodeJS.ProcessEnv = { ...process.env, GLOBUS_TIMER_HOME: home, GLOBUS_TIMER_NO_AUTOSTART: '1' };
  delete env.GLOBUS_TIMER_LOG_LEVEL;
  return { home, env };
}

/** An in-process daemon in its own home; stopped, then the home removed, after the test. */
async function daemonHome(t: TestContext): Promise<Home & { daemon: Daemon }> {
  const h = makeHome(null);
  const daemon = await startDaemon({ paths: resolvePaths(h.env), config: testConfig(), log: silentLogger() });
  t.after(async () => {
    await daemon.stop();
    fs.rmSync(h.home, { recursive: true, force: true });
  });
  return { ...h, daemon };
}

interface CliRun {
  code: number;
  out: string[];
  err: string[];
  /** Everything written to stdout, one `out()` call per line(s). */
  stdout: string;
}

async function cli(env: NodeJS.ProcessEnv, args: string[]): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { out: (s) => out.push(s), err: (s) => err.push(s), env });
  return { code, out, err, stdout: out.join('\n') };
}

/** Every job the daemon has, deleted ones included, as comparable documents. */
function allDocs(daemon: Daemon): JobDocument[] {
  const docs: JobDocument[] = [];
  let cursor: string | null = null;
  do {
    const page = daemon.service.list({ limit: 1000, cursor, show_deleted: true });
    docs.push(...page.jobs);
    cursor = page.next_cursor;
  } while (cursor);
  return docs;
}

const FUTURE = '2099-01-01T00:00:00Z';
const BODY = '{"body": {"source": "/a", "dest": "/b"}}';

/** A valid `job submit` command line; `over` replaces flags (value null drops the flag). */
function submitArgs(over: Record<string, string | null> = {}): string[] {
  const flags: Record<string, string | null> = {
    '--name': 'nightly',
    '--interval': '1d',
    '--start': FUTURE,
    '--action-url': provider.runUrl,
    '--action-body': BODY,
    ...over,
  };
  const args = ['job', 'submit'];
  for (const [flag, value] of Object.entries(flags)) if (value !== null) args.push(flag, value);
  return args;
}

function params(name: string): SubmitJobParams {
  return {
    name,
    start: FUTURE,
    interval_seconds: 3600,
    callback_url: 'https://actions.example.org/run',
    callback_body: { body: { n: name } },
  };
}

/** Split the text record of one job into [key, value] pairs, checking the alignment. */
function parseRecord(text: string): [string, string][] {
  const lines = text.split('\n');
  const valueCol = Math.max(...lines.map((l) => l.indexOf(':'))) + 2;
  return lines.map((line) => {
    const colon = line.indexOf(':');
    assert.ok(colon > 0, `record line without a key: ${JSON.stringify(line)}`);
    assert.match(line.slice(colon + 1, valueCol), /^ +$/, `value not aligned at column ${valueCol}: ${JSON.stringify(line)}`);
    assert.notEqual(line[valueCol], ' ', `value not aligned at column ${valueCol}: ${JSON.stringify(line)}`);
    return [line.slice(0, colon), line.slice(valueCol)];
  });
}

const RECORD_KEYS = ['Name', 'Job ID', 'Status', 'Start', 'Interval', 'Next Run At', 'Last Run Result'];
const DOC_KEYS = [
  'job_id',
  'name',
  'start',
  'interval',
  'stop_after',
  'scope',
  'callback_url',
  'callback_body',
  'status',
  'inactive_reason',
  'submitted_at',
  'last_ran_at',
  'next_run',
  'n_runs',
  'n_errors',
  'results',
  'activity',
  'policy',
  'skipped_slots',
];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A usage error: exit 2, one `globus-timer:` line on stderr, nothing on stdout. */
function assertUsageError(r: CliRun, what: string, re?: RegExp): void {
  assert.equal(r.code, 2, `${what}: exit code (stderr: ${JSON.stringify(r.err)})`);
  assert.deepEqual(r.out, [], `${what}: stdout`);
  assert.equal(r.err.length, 1, `${what}: one stderr line, got ${JSON.stringify(r.err)}`);
  const line = r.err[0]!;
  assert.ok(line.startsWith('globus-timer: '), `${what}: ${JSON.stringify(line)}`);
  assert.ok(!line.includes('\n'), `${what}: one line, got ${JSON.stringify(line)}`);
  if (re) assert.match(line, re, what);
}

test('job submit: every option with a bad value is a usage error and changes nothing', async (t) => {
  const { env, home, daemon } = await daemonHome(t);
  // Some jobs already there, one deleted, so "unchanged" covers more than an empty list.
  daemon.service.submit(params('existing-1'));
  daemon.service.delete(daemon.service.submit(params('existing-2')).job_id);

  const dir = path.join(home, 'a-directory');
  fs.mkdirSync(dir);
  const badJsonFile = path.join(home, 'bad.json');
  fs.writeFileSync(badJsonFile, '{"body": ');
  const arrayFile = path.join(home, 'array.json');
  fs.writeFileSync(arrayFile, '[{"body": {}}]');
  const extraKeyFile = path.join(home, 'extra.json');
  fs.writeFileSync(extraKeyFile, '{"body": {}, "surprise": true}');

  const cases: [string, string[], RegExp][] = [
    ...['1m2d', '10x', '', '0', '-5', '1.5', '5 m s', '1d 1w', '99999w'].map(
      (v): [string, string[], RegExp] => [`--interval ${JSON.stringify(v)}`, submitArgs({ '--interval': v }), /interval/],
    ),
    ...['2026-02-30', '2026-01-01T25:00:00', 'garbage', '2026-01-01T00:00:00Z junk', 'tomorrow', ''].map(
      (v): [string, string[], RegExp] => [`--start ${JSON.stringify(v)}`, submitArgs({ '--start': v }), /--start/],
    ),
    ['--start-time bad', submitArgs({ '--start': null, '--start-time': '2026-13-01' }), /--start/],
    ...['2026-02-30', 'garbage', '2099-01-01T00:00:00+25:00'].map(
      (v): [string, string[], RegExp] => [`--stop-after-date ${JSON.stringify(v)}`, submitArgs({ '--stop-after-date': v }), /--stop-after-date/],
    ),
    ...['0', '-1', 'abc', '1.5', '', '1e3', '99999999999999999999'].map(
      (v): [string, string[], RegExp] => [`--stop-after-runs ${JSON.stringify(v)}`, submitArgs({ '--stop-after-runs': v }), /stop-after-runs/],
    ),
    ...[
      'http://example.org/run',
      'http://10.1.2.3/run',
      'ftp://example.org/run',
      'https://user:secret@example.org/run',
      'not a url',
      '',
    ].map((v): [string, string[], RegExp] => [`--action-url ${JSON.stringify(v)}`, submitArgs({ '--action-url': v }), /action URL/]),
    ['--action-body invalid JSON', submitArgs({ '--action-body': '{"body": ' }), /^globus-timer: --action-body must parse into valid JSON; got error: /],
    ['--action-body not JSON', submitArgs({ '--action-body': 'body' }), /^globus-timer: --action-body must parse into valid JSON; got error: /],
    ['--action-body array', submitArgs({ '--action-body': '[]' }), /"body" object/],
    ['--action-body without body', submitArgs({ '--action-body': '{"source": "/a"}' }), /"body" object/],
    ['--action-body body not an object', submitArgs({ '--action-body': '{"body": [1]}' }), /"body" object/],
    ['--action-body extra key', submitArgs({ '--action-body': '{"body": {}, "extra": 1}' }), /"extra"/],
    ['--action-body too deep', submitArgs({ '--action-body': '{"body": {"a": ' + '['.repeat(500) + ']'.repeat(500) + '}}' }), /levels deep/],
    ['--action-file missing', submitArgs({ '--action-body': null, '--action-file': path.join(home, 'missing.json') }), /--action-file.*ENOENT/],
    ['--action-file unreadable (a directory)', submitArgs({ '--action-body': null, '--action-file': dir }), /--action-file.*EISDIR/],
    ['--action-file invalid JSON', submitArgs({ '--action-body': null, '--action-file': badJsonFile }), /^globus-timer: --action-file must parse into valid JSON; got error: /],
    ['--action-file array', submitArgs({ '--action-body': null, '--action-file': arrayFile }), /"body" object/],
    ['--action-file extra key', submitArgs({ '--action-body': null, '--action-file': extraKeyFile }), /"surprise"/],
    ['both --action-body and --action-file', [...submitArgs(), '--action-file', badJsonFile], /action-body.*action-file|action-file.*action-body/],
    ['neither --action-body nor --action-file', submitArgs({ '--action-body': null }), /--action-body.*--action-file/],
    ['missing --name', submitArgs({ '--name': null }), /name/],
    ['empty --name', submitArgs({ '--name': '' }), /name/],
    ['control characters in --name', submitArgs({ '--name': 'a\u0007b' }), /name/],
    ['missing --interval', submitArgs({ '--interval': null }), /interval/],
    ['missing --action-url', submitArgs({ '--action-url': null }), /action-url/],
    ['unknown option', [...submitArgs(), '--bogus', 'x'], /bogus/],
    ['unknown flag', [...submitArgs(), '--dry-run'], /dry-run/],
    ['extra positional', [...submitArgs(), 'stray'], /stray/],
    ['bad --overlap', submitArgs({ '--overlap': 'sometimes' }), /overlap/],
    ['blank --scope', submitArgs({ '--scope': ' ' }), /--scope/],
    ['two scopes in --scope', submitArgs({ '--scope': 'openid email' }), /--scope/],
    ['bad --misfire', submitArgs({ '--misfire': 'later' }), /misfire/],
    ['bad --format', submitArgs({ '--format': 'xml' }), /format/],
    ['bad --format before the command', ['--format', 'yaml', ...submitArgs()], /format/],
    // An option given twice is refused, not turned into an array no rule expects.
    ['--interval twice', [...submitArgs(), '--interval', '2h'], /--interval.*more than once/],
    ['--name twice', [...submitArgs(), '--name', 'other'], /--name.*more than once/],
    ['--start and --start-time', [...submitArgs(), '--start-time', FUTURE], /--start.*more than once/],
    ['--action-url twice', [...submitArgs(), '--action-url', 'https://actions.example.org/run'], /--action-url.*more than once/],
    ['--overlap twice', [...submitArgs({ '--overlap': 'skip' }), '--overlap', 'allow'], /--overlap.*more than once/],
    ['--stop-after-runs twice', [...submitArgs({ '--stop-after-runs': '1' }), '--stop-after-runs', '2'], /--stop-after-runs.*more than once/],
    ['a flag without its value', [...submitArgs({ '--name': null }), '--name'], /name/],
  ];

  const before = allDocs(daemon);
  assert.equal(before.length, 2);
  for (const [what, args, re] of cases) {
    assertUsageError(await cli(env, args), what, re);
    assert.deepEqual(allDocs(daemon), before, `${what}: the daemon's jobs changed`);
  }

  // The base command line of every case is itself valid: each case failed for its own flag.
  const ok = await cli(env, submitArgs());
  assert.equal(ok.code, 0, JSON.stringify(ok.err));
  assert.equal(allDocs(daemon).length, before.length + 1);
});

test('job submit: prints the record in the original key order, and the job is stored', async (t) => {
  const { env, home, daemon } = await daemonHome(t);
  const r = await cli(env, submitArgs({ '--name': 'nightly sync', '--interval': '10d', '--start': '2099-02-03T04:05:06+02:00' }));
  assert.equal(r.code, 0, JSON.stringify(r.err));
  assert.deepEqual(r.err, []);
  assert.equal(r.out.length, 1);
  const record = parseRecord(r.stdout);
  assert.deepEqual(
    record.map(([k]) => k),
    RECORD_KEYS,
  );
  const values = Object.fromEntries(record);
  assert.equal(values.Name, 'nightly sync');
  assert.match(values['Job ID']!, UUID);
  assert.equal(values.Status, 'loaded');
  assert.equal(values.Start, '2099-02-03T02:05:06+00:00');
  assert.equal(values.Interval, '10 days, 0:00:00');
  assert.equal(values['Next Run At'], '2099-02-03T02:05:06+00:00');
  assert.equal(values['Last Run Result'], 'NOT RUN');
  // The key column is the longest key ("Last Run Result") + 2 wide.
  assert.ok(r.stdout.startsWith('Name:' + ' '.repeat('Last Run Result'.length + 2 - 'Name:'.length) + 'nightly sync\n'));

  const stored = daemon.service.get(values['Job ID']!);
  assert.equal(stored.name, 'nightly sync');
  assert.equal(stored.interval, 864_000);
  assert.deepEqual(stored.callback_body, JSON.parse(BODY));

  // --action-file gives the body; --start-time is an alias of --start; every other option.
  // A confidential client (headless use) needs no user consent for --scope.
  const bodyFile = path.join(home, 'body.json');
  fs.writeFileSync(bodyFile, '{"body": {"from": "file"}, "label": "from a file"}\n');
  const headless = { ...env, GLOBUS_TIMER_CLIENT_ID: 'cc-client', GLOBUS_TIMER_CLIENT_SECRET: 'cc-secret' };
  const r2 = await cli(headless, [
    ...submitArgs({ '--action-body': null, '--action-file': bodyFile, '--start': null, '--start-time': '2099-05-06T07:08:09Z', '--interval': null }),
    '--interval',
    '2h3m4s',
    '--scope',
    'urn:globus:auth:scope:transfer.api.globus.org:all',
    '--stop-after-runs',
    '5',
    '--stop-after-date',
    '2100-01-01',
    '--overlap',
    'allow',
    '--misfire',
    'skip',
  ]);
  assert.equal(r2.code, 0, JSON.stringify(r2.err));
  const doc2 = daemon.service.get(Object.fromEntries(parseRecord(r2.stdout))['Job ID']!);
  assert.deepEqual(doc2.callback_body, { body: { from: 'file' }, label: 'from a file' });
  assert.equal(doc2.start, '2099-05-06T07:08:09+00:00');
  assert.equal(doc2.interval, 7384);
  assert.equal(doc2.scope, 'urn:globus:auth:scope:transfer.api.globus.org:all');
  assert.deepEqual(doc2.stop_after, { date: new Date(2100, 0, 1).toISOString().replace('.000Z', '+00:00'), n_runs: 5 });
  assert.deepEqual(doc2.policy, { overlap: 'allow', misfire: 'skip' });
});

test('job submit reads the scope from the provider unless --scope or --no-scope says it', async (t) => {
  const { env, daemon } = await daemonHome(t);
  const scoped = await startFakeProvider();
  t.after(() => scoped.close());
  scoped.introspectionScope = 'https://auth.globus.org/scopes/0000/some_action';
  const introspections = () => scoped.requests.filter((r) => r.method === 'GET' && !r.path.endsWith('/status')).length;

  // Asked, and the scope needs a consent nobody gave: exit 1 naming the login command.
  const asked = await cli(env, submitArgs({ '--action-url': scoped.runUrl }));
  assert.equal(asked.code, 1);
  assert.match(asked.err.join('\n'), /globus-timer session login --scope 'https:\/\/auth\.globus\.org\/scopes\/0000\/some_action'/);
  assert.equal(introspections(), 1);
  assert.equal(daemon.service.list({}).jobs.length, 0, 'nothing submitted');

  // --no-scope: no question, no token.
  const none = await cli(env, [...submitArgs({ '--action-url': scoped.runUrl }), '--no-scope', '--format', 'json']);
  assert.equal(none.code, 0, none.err.join('\n'));
  assert.equal((JSON.parse(none.stdout) as JobDocument).scope, null);
  assert.equal(introspections(), 1);

  // A provider that cannot say: a clear error that names --scope.
  await scoped.close();
  const unreachable = await cli(env, submitArgs({ '--action-url': scoped.runUrl }));
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.err[0]!, /cannot read the Globus Auth scope of .*give it with --scope SCOPE/);
});

test('job submit -v and --format json print the job document as JSON', async (t) => {
  const { env, daemon } = await daemonHome(t);
  for (const extra of [['-v'], ['--verbose'], ['--format', 'json'], ['--format=json']]) {
    const r = await cli(env, [...submitArgs({ '--stop-after-runs': '3' }), ...extra]);
    assert.equal(r.code, 0, JSON.stringify(r.err));
    assert.equal(r.out.length, 1);
    const text = r.out[0]!;
    assert.match(text.split('\n')[1]!, /^ {2}"job_id": /, 'indented 2');
    const doc = JSON.parse(text) as JobDocument;
    assert.deepEqual(Object.keys(doc), DOC_KEYS, `${extra.join(' ')}: keys`);
    assert.match(doc.job_id, UUID);
    assert.equal(doc.name, 'nightly');
    assert.equal(doc.start, '2099-01-01T00:00:00+00:00');
    assert.equal(doc.interval, 86_400);
    assert.deepEqual(doc.stop_after, { date: null, n_runs: 3 });
    assert.equal(doc.callback_url, provider.runUrl);
    assert.deepEqual(doc.callback_body, JSON.parse(BODY));
    assert.equal(doc.status, 'loaded');
    assert.equal(doc.n_runs, 0);
    assert.deepEqual(doc.results, { data: [], page_next: null });
    assert.deepEqual(doc.policy, { overlap: 'skip', misfire: 'coalesce' });
    // What was printed is what the daemon has.
    assert.deepEqual(doc, daemon.service.get(doc.job_id));
  }
});

test('job list, status and delete', async (t) => {
  const { env, daemon } = await daemonHome(t);
  const ids: string[] = [];
  for (const name of ['alpha', 'beta', 'gamma']) {
    const r = await cli(env, submitArgs({ '--name': name }));
    assert.equal(r.code, 0);
    ids.push(Object.fromEntries(parseRecord(r.stdout))['Job ID']!);
  }
  const [alpha, beta, gamma] = ids as [string, string, string];

  await t.test('job list prints the table', async () => {
    const r = await cli(env, ['job', 'list']);
    assert.equal(r.code, 0);
    assert.deepEqual(r.err, []);
    const lines = r.stdout.split('\n');
    assert.deepEqual(
      lines[0]!.split(' | ').map((c) => c.trim()),
      ['Name', 'Job ID', 'Status', 'Last Result'],
    );
    assert.ok(lines[0]!.startsWith('Name  | Job ID '), lines[0]);
    assert.match(lines[1]!, /^-+-\|-+-\|-+-\|-+$/);
    assert.equal(lines.length, 2 + 3);
    for (const [i, line] of lines.slice(2).entries()) {
      assert.deepEqual(
        line.split(' | ').map((c) => c.trim()),
        [['alpha', 'beta', 'gamma'][i], ids[i], 'loaded', 'NOT RUN'],
      );
    }
    // -v / --format json: the documents.
    for (const extra of [['-v'], ['--format', 'json']]) {
      const j = await cli(env, ['job', 'list', ...extra]);
      assert.equal(j.code, 0);
      const docs = JSON.parse(j.stdout) as JobDocument[];
      assert.deepEqual(
        docs.map((d) => d.job_id),
        ids,
      );
      assert.deepEqual(Object.keys(docs[0]!), DOC_KEYS);
    }
  });

  await t.test('job status <id> prints one record; -v the document', async () => {
    const r = await cli(env, ['job', 'status', beta]);
    assert.equal(r.code, 0);
    const record = parseRecord(r.stdout);
    assert.deepEqual(
      record.map(([k]) => k),
      RECORD_KEYS,
    );
    assert.equal(Object.fromEntries(record)['Job ID'], beta);
    assert.equal(Object.fromEntries(record).Name, 'beta');
    const v = await cli(env, ['job', 'status', beta, '-v']);
    assert.deepEqual(JSON.parse(v.stdout), daemon.service.get(beta));
  });

  await t.test('job status --all prints every record, separated by blank lines', async () => {
    for (const flag of ['--all', '-a']) {
      const r = await cli(env, ['job', 'status', flag]);
      assert.equal(r.code, 0);
      const records = r.stdout.split('\n\n');
      assert.equal(records.length, 3);
      assert.deepEqual(
        records.map((rec) => Object.fromEntries(parseRecord(rec))['Job ID']),
        ids,
      );
      for (const rec of records) assert.equal(rec.split('\n').length, RECORD_KEYS.length);
    }
  });

  await t.test('job status without an id or --all is a usage error', async () => {
    const r = await cli(env, ['job', 'status']);
    assertUsageError(r, 'job status');
    assert.equal(r.err[0], 'globus-timer: must provide either a job ID or the --all option');
  });

  await t.test('job status <unknown id> is a runtime error', async () => {
    const r = await cli(env, ['job', 'status', '00000000-0000-4000-8000-000000000000']);
    assert.equal(r.code, 1);
    assert.deepEqual(r.out, []);
    assert.equal(r.err.length, 1);
    assert.match(r.err[0]!, /^globus-timer: .*00000000-0000-4000-8000-000000000000/);
  });

  await t.test('job delete: a known and an unknown id', async () => {
    const unknown = '11111111-1111-4111-8111-111111111111';
    const r = await cli(env, ['job', 'delete', unknown, beta]);
    assert.equal(r.code, 1, 'an unknown id fails the command');
    assert.equal(r.err.length, 1);
    assert.match(r.err[0]!, new RegExp(`^globus-timer: .*${unknown}`));
    const record = parseRecord(r.stdout);
    assert.deepEqual(
      record.map(([k]) => k),
      RECORD_KEYS.slice(0, 5),
    );
    assert.equal(Object.fromEntries(record)['Job ID'], beta);
    assert.equal(Object.fromEntries(record).Status, 'deleted');
    assert.equal(daemon.service.get(beta).status, 'deleted');
    assert.equal(daemon.service.get(alpha).status, 'loaded');
  });

  await t.test('deleted jobs are listed only with --show-deleted', async () => {
    const r = await cli(env, ['job', 'list']);
    assert.equal(r.code, 0);
    assert.ok(r.stdout.includes(alpha) && r.stdout.includes(gamma));
    assert.ok(!r.stdout.includes(beta), 'a deleted job in the plain list');
    const all = await cli(env, ['job', 'list', '--show-deleted']);
    assert.equal(all.code, 0);
    const betaLine = all.stdout.split('\n').find((l) => l.includes(beta));
    assert.ok(betaLine, 'the deleted job is missing with --show-deleted');
    assert.equal(betaLine.split(' | ')[2]!.trim(), 'deleted');
    assert.equal(all.stdout.split('\n').length, 2 + 3);
    // status --all follows the same rule.
    const st = await cli(env, ['job', 'status', '--all']);
    assert.equal(st.stdout.split('\n\n').length, 2);
    const stAll = await cli(env, ['job', 'status', '--all', '--show-deleted']);
    assert.equal(stAll.stdout.split('\n\n').length, 3);
    // Still readable by id.
    const one = await cli(env, ['job', 'status', beta]);
    assert.equal(one.code, 0);
    assert.equal(Object.fromEntries(parseRecord(one.stdout)).Status, 'deleted');
  });

  await t.test('job delete of several known ids deletes them all, exit 0', async () => {
    const r = await cli(env, ['job', 'delete', alpha, gamma]);
    assert.equal(r.code, 0, JSON.stringify(r.err));
    assert.deepEqual(r.err, []);
    const records = r.stdout.split('\n\n');
    assert.deepEqual(
      records.map((rec) => Object.fromEntries(parseRecord(rec))['Job ID']),
      [alpha, gamma],
    );
    assert.equal(daemon.service.list({}).jobs.length, 0);
    const empty = await cli(env, ['job', 'list']);
    assert.equal(empty.stdout, 'Name | Job ID | Status | Last Result\n-----|--------|--------|------------');
  });
});

test('job list pages through more than 1000 jobs', async (t) => {
  const { env, daemon } = await daemonHome(t);
  const ids = new Set<string>();
  for (let i = 0; i < 1100; i++) ids.add(daemon.service.submit(params(`job-${i}`)).job_id);
  assert.equal(ids.size, 1100);

  const r = await cli(env, ['job', 'list']);
  assert.equal(r.code, 0, JSON.stringify(r.err));
  const rows = r.stdout.split('\n').slice(2);
  assert.equal(rows.length, 1100);
  const listed = rows.map((row) => row.split(' | ')[1]!.trim());
  assert.equal(new Set(listed).size, 1100, 'a job listed twice');
  assert.deepEqual(new Set(listed), ids);

  const j = await cli(env, ['job', 'list', '--format', 'json']);
  const docs = JSON.parse(j.stdout) as JobDocument[];
  assert.deepEqual(new Set(docs.map((d) => d.job_id)), ids);
  assert.equal(docs.length, 1100);

  const st = await cli(env, ['job', 'status', '--all']);
  assert.equal(st.stdout.split('\n\n').length, 1100);
});

test('with no daemon running, every command exits 1 and says how to start it', async (t) => {
  const { env } = makeHome(t);
  const commands = [
    submitArgs(),
    ['job', 'list'],
    ['job', 'list', '--show-deleted', '-v'],
    ['job', 'status', '00000000-0000-4000-8000-000000000000'],
    ['job', 'status', '--all'],
    ['job', 'delete', '00000000-0000-4000-8000-000000000000'],
  ];
  for (const args of commands) {
    const r = await cli(env, args);
    assert.equal(r.code, 1, args.join(' '));
    assert.deepEqual(r.out, [], args.join(' '));
    assert.equal(r.err.length, 1, args.join(' '));
    assert.ok(!r.err[0]!.includes('\n'));
    assert.match(r.err[0]!, /^globus-timer: .*globus-timer daemon run/, args.join(' '));
  }
  // `daemon status` answers the question instead of failing: exit 3, as LSB and systemctl do.
  const status = await cli(env, ['daemon', 'status']);
  assert.equal(status.code, 3);
  assert.deepEqual(status.err, []);
  assert.match(status.out[0]!, /^globus-timer daemon is not running .*globus-timer daemon start$/);
  const json = await cli(env, ['daemon', 'status', '--format', 'json']);
  assert.equal(json.code, 3);
  assert.equal((JSON.parse(json.out.join('\n')) as { running: boolean }).running, false);
  // A socket file that nobody answers on is "not running" too.
  fs.writeFileSync(resolvePaths(env).socketPath, '');
  const r = await cli(env, ['job', 'list']);
  assert.equal(r.code, 1);
  assert.match(r.err[0]!, /globus-timer daemon run/);
});

test('daemon status prints the daemon record', async (t) => {
  const { env, daemon } = await daemonHome(t);
  daemon.service.submit(params('one'));
  const r = await cli(env, ['daemon', 'status']);
  assert.equal(r.code, 0);
  const values = Object.fromEntries(parseRecord(r.stdout));
  assert.equal(values.Status, 'running');
  assert.equal(values.PID, String(process.pid));
  assert.equal(values.Socket, resolvePaths(env).socketPath);
  assert.match(values.Jobs!, /\b1 loaded\b/);
  const j = await cli(env, ['daemon', 'status', '--format', 'json']);
  assert.equal((JSON.parse(j.stdout) as { version: string }).version, VERSION);
});

test('usage errors without a command', async (t) => {
  const { env } = makeHome(t);
  for (const args of [[], ['job'], ['daemon'], ['jbo'], ['job', 'frobnicate'], ['job', 'delete'], ['--bogus']]) {
    assertUsageError(await cli(env, args), JSON.stringify(args));
  }
});

test('as a real process: exit codes and what reaches stdout/stderr', async (t) => {
  const { env, daemon } = await daemonHome(t);
  const job = daemon.service.submit(params('proc'));
  const noDaemon = makeHome(t);

  const [version, usage, missing, notRunning, list] = await Promise.all([
    runCliProcess(['--version'], env),
    runCliProcess(submitArgs({ '--interval': '1m2d' }), env),
    runCliProcess(['job', 'submit', '--name', 'x'], env),
    runCliProcess(['job', 'list'], noDaemon.env),
    runCliProcess(['job', 'list'], env),
  ]);
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(version.code, 0);
  assert.equal(version.stdout, `${pkg.version}\n`);
  assert.equal(version.stderr, '');

  // yargs prints no usage text of its own: one line, exit 2.
  for (const r of [usage, missing]) {
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^globus-timer: [^\n]+\n$/);
  }
  assert.match(usage.stderr, /interval/);
  assert.match(missing.stderr, /Missing required argument/);

  assert.equal(notRunning.code, 1);
  assert.equal(notRunning.stdout, '');
  assert.match(notRunning.stderr, /^globus-timer: [^\n]*globus-timer daemon run[^\n]*\n$/);

  assert.equal(list.code, 0, list.stderr);
  assert.equal(list.stderr, '');
  assert.match(list.stdout, new RegExp(`^proc \\| ${job.job_id} \\| loaded \\| NOT RUN$`, 'm'));
  assert.equal(daemon.service.list({}).jobs.length, 1, 'the usage errors submitted nothing');
});
