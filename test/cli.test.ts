/**
 * The `globus-timer` CLI run in-process through `runCli(argv, io)` against an in-process
 * daemon, plus a few real subprocesses (bin/globus-timer.js) for what only a process
 * shows: what reaches the real stdout/stderr, and the exit code.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { after, type TestContext } from 'node:test';
import { eq } from 'drizzle-orm';
import { runCli } from '../src/cli/main.ts';
import { resolvePaths } from '../src/config/paths.ts';
import { startDaemon, type Daemon } from '../src/daemon/daemon.ts';
import { jobs, runs } from '../src/daemon/store/schema.ts';
import { silentLogger } from '../src/log/logger.ts';
import type { JobDocument, SubmitJobParams } from '../src/contract/protocol.ts';
import { VERSION } from '../src/util/package-root.ts';
import { ROOT, runCliProcess, testConfig } from './support/env.ts';
import { ALLOW_HTTP_TOKENS_ENV, tokenRulesFromEnv } from '../src/auth/token-rules.ts';
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
  const daemon = await startDaemon({ paths: resolvePaths(h.env), config: testConfig(), log: silentLogger(), tokenRules: DAEMON_TOKEN_RULES });
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

/**
 * The daemons' token rules: the loopback provider also stands in for the Transfer Action
 * Provider (`job transfer` sends there, as GLOBUS_TIMER_TRANSFER_ACTION_URL says).
 */
const DAEMON_TOKEN_RULES = tokenRulesFromEnv({ [ALLOW_HTTP_TOKENS_ENV]: '1', GLOBUS_TIMER_TRANSFER_ACTION_URL: provider.runUrl });
const FUTURE = '2099-01-01T00:00:00Z';
/** A provider's own scope (no Globus service's): it may go to the loopback provider. */
const PROVIDER_SCOPE = 'https://auth.globus.org/scopes/000a11ce-0000-1000-8000-0000000000aa/action_all';
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
  'cron',
  'timezone',
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
    ...['1m2d', '10x', '', '0', '-5', '1.5', '5 m s', '1d 1w', '99999w'].map((v): [string, string[], RegExp] => [
      `--interval ${JSON.stringify(v)}`,
      submitArgs({ '--interval': v }),
      /interval/,
    ]),
    ...['2026-02-30', '2026-01-01T25:00:00', 'garbage', '2026-01-01T00:00:00Z junk', 'tomorrow', ''].map((v): [string, string[], RegExp] => [
      `--start ${JSON.stringify(v)}`,
      submitArgs({ '--start': v }),
      /--start/,
    ]),
    ['--start-time bad', submitArgs({ '--start': null, '--start-time': '2026-13-01' }), /--start/],
    ...['2026-02-30', 'garbage', '2099-01-01T00:00:00+25:00'].map((v): [string, string[], RegExp] => [
      `--stop-after-date ${JSON.stringify(v)}`,
      submitArgs({ '--stop-after-date': v }),
      /--stop-after-date/,
    ]),
    ...['0', '-1', 'abc', '1.5', '', '1e3', '99999999999999999999'].map((v): [string, string[], RegExp] => [
      `--stop-after-runs ${JSON.stringify(v)}`,
      submitArgs({ '--stop-after-runs': v }),
      /stop-after-runs/,
    ]),
    ...['http://example.org/run', 'http://10.1.2.3/run', 'ftp://example.org/run', 'https://user:secret@example.org/run', 'not a url', ''].map(
      (v): [string, string[], RegExp] => [`--action-url ${JSON.stringify(v)}`, submitArgs({ '--action-url': v }), /action URL/],
    ),
    ['--action-body invalid JSON', submitArgs({ '--action-body': '{"body": ' }), /^globus-timer: --action-body must parse into valid JSON; got error: /],
    ['--action-body not JSON', submitArgs({ '--action-body': 'body' }), /^globus-timer: --action-body must parse into valid JSON; got error: /],
    ['--action-body array', submitArgs({ '--action-body': '[]' }), /"body" object/],
    ['--action-body without body', submitArgs({ '--action-body': '{"source": "/a"}' }), /"body" object/],
    ['--action-body body not an object', submitArgs({ '--action-body': '{"body": [1]}' }), /"body" object/],
    ['--action-body extra key', submitArgs({ '--action-body': '{"body": {}, "extra": 1}' }), /"extra"/],
    ['--action-body too deep', submitArgs({ '--action-body': '{"body": {"a": ' + '['.repeat(500) + ']'.repeat(500) + '}}' }), /levels deep/],
    [
      '--action-file missing',
      submitArgs({ '--action-body': null, '--action-file': path.join(home, 'missing.json') }),
      /^globus-timer: cannot read --action-file .*missing\.json: no such file$/,
    ],
    [
      '--action-file unreadable (a directory)',
      submitArgs({ '--action-body': null, '--action-file': dir }),
      /^globus-timer: cannot read --action-file .*a-directory: is a directory$/,
    ],
    [
      '--action-file invalid JSON',
      submitArgs({ '--action-body': null, '--action-file': badJsonFile }),
      /^globus-timer: --action-file must parse into valid JSON; got error: /,
    ],
    ['--action-file array', submitArgs({ '--action-body': null, '--action-file': arrayFile }), /"body" object/],
    ['--action-file extra key', submitArgs({ '--action-body': null, '--action-file': extraKeyFile }), /"surprise"/],
    ['both --action-body and --action-file', [...submitArgs(), '--action-file', badJsonFile], /action-body.*action-file|action-file.*action-body/],
    ['neither --action-body nor --action-file', submitArgs({ '--action-body': null }), /--action-body.*--action-file/],
    ['missing --name', submitArgs({ '--name': null }), /name/],
    ['empty --name', submitArgs({ '--name': '' }), /name/],
    ['control characters in --name', submitArgs({ '--name': 'a\u0007b' }), /name/],
    // Issue 11 item 7: what a terminal acts on or reorders, not only C0.
    ...['\u001b[2J', '\u007f', '\u009b31m', '\u0085', '\u202e', '\u202a', '\u2066', '\u2069'].map((ch): [string, string[], RegExp] => [
      `--name with U+${ch.codePointAt(0)!.toString(16)}`,
      submitArgs({ '--name': `a${ch}b` }),
      /invalid job name/,
    ]),
    ['missing --interval', submitArgs({ '--interval': null }), /interval/],
    ['missing --action-url', submitArgs({ '--action-url': null }), /action-url/],
    ['unknown option', [...submitArgs(), '--bogus', 'x'], /bogus/],
    ['unknown flag', [...submitArgs(), '--dry-run'], /dry-run/],
    ['extra positional', [...submitArgs(), 'stray'], /stray/],
    ['bad --overlap', submitArgs({ '--overlap': 'sometimes' }), /overlap/],
    ['blank --scope', submitArgs({ '--scope': ' ' }), /--scope/],
    ['two scopes in --scope', submitArgs({ '--scope': 'openid email' }), /--scope/],
    // Issue 11 item 6: no whitespace, so the old check let these through.
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell text, where ${…} is the shell's own
    ['a quote in --scope', submitArgs({ '--scope': "x';touch${IFS}/tmp/x;echo'" }), /^globus-timer: invalid --scope .*"'" cannot be part of a scope/],
    ['$( ) in --scope', submitArgs({ '--scope': 'urn:x$(id)' }), /invalid --scope .*"\$"/],
    ['unbalanced brackets in --scope', submitArgs({ '--scope': 'urn:x[*https://a/b' }), /invalid --scope .*no matching/],
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
    PROVIDER_SCOPE,
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
  assert.equal(doc2.scope, PROVIDER_SCOPE);
  assert.deepEqual(doc2.stop_after, { date: new Date(2100, 0, 1).toISOString().replace('.000Z', '+00:00'), n_runs: 5 });
  assert.deepEqual(doc2.policy, { overlap: 'allow', misfire: 'skip' });
});

test('job submit reads the scope from the provider unless --scope or --no-scope says it', async (t) => {
  const { env, daemon } = await daemonHome(t);
  const scoped = await startFakeProvider();
  t.after(() => scoped.close());
  scoped.introspectionScope = 'https://auth.globus.org/scopes/0000/some_action';
  const introspections = () => scoped.requests.filter((r) => r.method === 'GET' && !r.path.endsWith('/status')).length;

  // Asked, in a script: the provider's own scope is not taken without the user's word
  // (token-rules.test.ts has the terminal's question): exit 2 naming --scope.
  const asked = await cli(env, submitArgs({ '--action-url': scoped.runUrl }));
  assert.equal(asked.code, 2);
  assert.match(
    asked.err.join('\n'),
    /asks for a token for scope https:\/\/auth\.globus\.org\/scopes\/0000\/some_action; to send it one on every run, give --scope /,
  );
  assert.equal(introspections(), 1);
  // Named with --scope, and the scope needs a consent nobody gave: exit 1 naming the login command.
  const named = await cli(env, [...submitArgs({ '--action-url': scoped.runUrl }), '--scope', 'https://auth.globus.org/scopes/0000/some_action']);
  assert.equal(named.code, 1);
  assert.match(named.err.join('\n'), /globus-timer session login --scope 'https:\/\/auth\.globus\.org\/scopes\/0000\/some_action'/);
  // Its introspection document is still read (issue 15: the action body is checked against its input_schema), without a token.
  assert.equal(introspections(), 2);
  assert.ok(
    scoped.requests.every((r) => r.headers.authorization === undefined),
    'no token to an introspection',
  );
  assert.equal(daemon.service.list({}).jobs.length, 0, 'nothing submitted');

  // --no-scope: no question, no token.
  const none = await cli(env, [...submitArgs({ '--action-url': scoped.runUrl }), '--no-scope', '--format', 'json']);
  assert.equal(none.code, 0, none.err.join('\n'));
  assert.equal((JSON.parse(none.stdout) as JobDocument).scope, null);
  assert.equal(introspections(), 3);

  // A provider that cannot say: a clear error that names --scope.
  await scoped.close();
  const unreachable = await cli(env, submitArgs({ '--action-url': scoped.runUrl }));
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.err[0]!, /cannot read the Globus Auth scope of .*give it with --scope SCOPE, or --no-scope if the provider takes no token$/);
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
      ['Name', 'Job ID', 'Status', 'Last Result', 'Next Run'],
    );
    assert.ok(lines[0]!.startsWith('Name  | Job ID '), lines[0]);
    assert.match(lines[1]!, /^-+-\|-+-\|-+-\|-+-\|-+$/);
    assert.equal(lines.length, 2 + 3);
    for (const [i, line] of lines.slice(2).entries()) {
      const cells = line.split(' | ').map((c) => c.trim());
      assert.deepEqual(cells.slice(0, 4), [['alpha', 'beta', 'gamma'][i], ids[i], 'loaded', 'NOT RUN']);
      // The first slot is in 2099: decades away, in days and hours.
      assert.match(cells[4]!, /^in \d{4,5}d( \d{1,2}h)?$/);
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

  await t.test('job delete: a known and an unknown id deletes neither; the known one alone is deleted', async () => {
    const unknown = '11111111-1111-4111-8111-111111111111';
    const refused = await cli(env, ['job', 'delete', unknown, beta]);
    assert.equal(refused.code, 1, 'an unknown id fails the command');
    assert.deepEqual(refused.err, [`globus-timer: no job with id ${unknown}; list jobs with: globus-timer job list`]);
    assert.deepEqual(refused.out, []);
    assert.equal(daemon.service.get(beta).status, 'loaded', 'every id is resolved before any job is deleted (issue 12 item 2)');
    const r = await cli(env, ['job', 'delete', beta]);
    assert.equal(r.code, 0, JSON.stringify(r.err));
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
    assert.equal(empty.stdout, 'Name | Job ID | Status | Last Result | Next Run\n-----|--------|--------|-------------|---------');
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
  // A socket file that nobody answers on is "not running" too: what a killed daemon leaves
  // (bound, never unlinked). A plain file there is not a socket, and now refused (issue 11).
  execFileSync('python3', ['-c', 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', resolvePaths(env).socketPath]);
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
  // The store's size and room (issue 17 item 3).
  assert.match(values.Store!, /^\d+\.\d (KiB|MiB) \(WAL \d+(\.\d)? (B|KiB|MiB)\), \d+\.\d (MiB|GiB|TiB) free/);
  const j = await cli(env, ['daemon', 'status', '--format', 'json']);
  const json = JSON.parse(j.stdout) as {
    version: string;
    store: { db_bytes: number; wal_bytes: number; free_bytes: number; low_space: boolean; writes_failing: boolean };
  };
  assert.equal(json.version, VERSION);
  assert.equal(json.store.db_bytes, fs.statSync(resolvePaths(env).dbFile).size);
  assert.ok(json.store.free_bytes > 0);
  assert.equal(json.store.writes_failing, false);
  assert.equal(typeof json.store.low_space, 'boolean');
});

test('usage errors without a command', async (t) => {
  const { env } = makeHome(t);
  // No command at all (`globus-timer`, `globus-timer job`) is the help, exit 0: cli-contract.test.ts.
  for (const args of [['jbo'], ['job', 'frobnicate'], ['job', 'delete'], ['--bogus']]) {
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
  assert.equal(missing.stderr, 'globus-timer: missing --action-url; see globus-timer job submit --help\n');

  assert.equal(notRunning.code, 1);
  assert.equal(notRunning.stdout, '');
  assert.match(notRunning.stderr, /^globus-timer: [^\n]*globus-timer daemon run[^\n]*\n$/);

  assert.equal(list.code, 0, list.stderr);
  assert.equal(list.stderr, '');
  assert.match(list.stdout, new RegExp(`^proc \\| ${job.job_id} \\| loaded \\| NOT RUN +\\| in \\d+d( \\d+h)?$`, 'm'));
  assert.equal(daemon.service.list({}).jobs.length, 1, 'the usage errors submitted nothing');
});

/** Every file under `dir` (relative paths), to show that a refused command wrote nothing. */
function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((e) => !e.isDirectory())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

test('a boolean option given a value, or an option given none that needs one: exit 2, one line, nothing done', async (t) => {
  const { env: base, home, daemon } = await daemonHome(t);
  // The user's home for `daemon install|uninstall`: a refused command must write nothing there.
  const userHome = path.join(home, 'user');
  fs.mkdirSync(userHome);
  const env: NodeJS.ProcessEnv = { ...base, HOME: userHome, GLOBUS_TIMER_TRANSFER_ACTION_URL: provider.runUrl };
  delete env.XDG_CONFIG_HOME;
  const job = daemon.service.submit(params('kept'));
  const transfer = (...extra: string[]) => [
    ...['job', 'transfer', '--name', 'never', '--interval', '1d', '--start', FUTURE, '--no-scope'].filter((a) => a !== '--no-scope'),
    ...['--source-endpoint', '000a11ce-0000-1000-8000-000000000003', '--dest-endpoint', '000a11ce-0000-1000-8000-000000000002', '--item', '/a', '/b', 'false'],
    ...extra,
  ];
  const noValue = (flag: string, long = flag) => new RegExp(`^globus-timer: ${flag} takes no value: write .*--no-${long.replace(/^-+/, '')}$`);

  const cases: [string[], RegExp][] = [
    // booleans given a value, in every spelling yargs accepts
    [['job', 'list', '-v=2'], /^globus-timer: -v takes no value: write -v \(--verbose\) or --no-verbose$/],
    [['job', 'list', '-v2'], noValue('-v', 'verbose')],
    [['job', 'list', '--verbose=yes'], /^globus-timer: --verbose takes no value: write --verbose or --no-verbose$/],
    [['job', 'list', '--show-deleted=maybe'], /^globus-timer: --show-deleted takes no value: write --show-deleted or --no-show-deleted$/],
    [['job', 'list', '--show-deleted=true'], noValue('--show-deleted')],
    [['job', 'list', '--show-deleted', 'true'], noValue('--show-deleted')],
    [['job', 'list', '--show-deleted', 'false'], noValue('--show-deleted')],
    [['job', 'list', '--no-show-deleted=1'], /^globus-timer: --no-show-deleted takes no value: write --show-deleted or --no-show-deleted$/],
    [['job', 'list', '--showDeleted=x'], noValue('--showDeleted', 'show-deleted')],
    [['job', 'status', '--all=yes'], noValue('--all')],
    [['job', 'status', '-a=1'], noValue('-a', 'all')],
    [['job', 'status', '--all', '--show-deleted=1'], noValue('--show-deleted')],
    [['job', 'delete', job.job_id, '--verbose=yes'], noValue('--verbose')],
    [['job', 'resume', job.job_id, '-v=0'], noValue('-v', 'verbose')],
    [[...submitArgs(), '--verbose=yes'], noValue('--verbose')],
    [transfer('--encrypt-data=1'), /^globus-timer: --encrypt-data takes no value: write --encrypt-data or --no-encrypt-data$/],
    [transfer('--verify-checksum=yes'), noValue('--verify-checksum')],
    [transfer('--fail-on-quota-errors', 'false'), noValue('--fail-on-quota-errors')],
    [['session', 'login', '--browser=maybe'], noValue('--browser')],
    [['session', 'login', '--no-browser=1'], noValue('--no-browser', 'browser')],
    [['daemon', 'run', '--log-file=maybe'], noValue('--log-file')],
    [['daemon', 'logs', '--follow=maybe'], noValue('--follow')],
    [['daemon', 'logs', '-f=maybe'], noValue('-f', 'follow')],
    [['daemon', 'install', '--dry-run=yes'], /^globus-timer: --dry-run takes no value: write --dry-run or --no-dry-run$/],
    [['daemon', 'install', '--systemd=1', '--dry-run'], noValue('--systemd')],
    [['daemon', 'uninstall', '--dry-run=yes'], noValue('--dry-run')],
    [['--autostart=maybe', 'job', 'list'], noValue('--autostart')],
    [['job', 'list', '--no-autostart=0'], noValue('--no-autostart', 'autostart')],
    // options that take a value, given none
    [['job', 'list', '--format'], /^globus-timer: --format needs a value \(text or json\)$/],
    [['job', 'list', '--format', '--verbose'], /^globus-timer: --format needs a value \(text or json\)$/],
    [['session', 'whoami', '--format'], /^globus-timer: --format needs a value \(text, json, brief or full\)$/],
    [[...submitArgs({ '--start': null }), '--start'], /^globus-timer: --start needs a value$/],
    [[...submitArgs({ '--start': null }), '--start-time'], /^globus-timer: --start-time needs a value$/],
    [[...submitArgs(), '--scope'], /^globus-timer: --scope needs a value$/],
    [[...submitArgs(), '--overlap'], /^globus-timer: --overlap needs a value \(skip or allow\)$/],
    [[...submitArgs(), '--stop-after-runs', '--verbose'], /^globus-timer: --stop-after-runs needs a value$/],
    [transfer('--data-access'), /^globus-timer: --data-access needs a value$/],
    [transfer('--items-file'), /^globus-timer: --items-file needs a value$/],
    [transfer('--recursive-symlinks'), /^globus-timer: --recursive-symlinks needs a value \(ignore, keep or copy\)$/],
    [['daemon', 'logs', '-n'], /lines|\bn\b/],
    [['daemon', 'logs', '-fn'], /lines|\bn\b/],
    [['daemon', 'logs', '--lines'], /lines/],
  ];
  const before = allDocs(daemon);
  for (const [args, re] of cases) {
    assertUsageError(await cli(env, args), args.join(' '), re);
    assert.deepEqual(allDocs(daemon), before, `${args.join(' ')}: the daemon's jobs changed`);
  }
  assert.deepEqual(filesUnder(userHome), [], 'a refused command wrote into the home directory');

  // What stays valid: the flag alone, its negation, a value after `=` or attached for an
  // option that takes one, a negative number as a value.
  const ok: string[][] = [
    ['job', 'list', '--show-deleted', '-v'],
    ['job', 'list', '--no-show-deleted', '--no-verbose'],
    ['job', 'list', '--format=json'],
    ['--format=json', 'job', 'status', '-a'],
    ['daemon', 'logs', '-n5', '--format', 'json'],
    ['daemon', 'install', '--dry-run', '--systemd', '--format', 'json'],
  ];
  for (const args of ok) {
    const r = await cli(env, args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${JSON.stringify(r.err)}`);
  }
  assert.deepEqual(filesUnder(userHome), [], 'daemon install --dry-run wrote files');
  const negative = await cli(env, submitArgs({ '--interval': '-5' }));
  assertUsageError(negative, '--interval -5', /interval "-5"|interval.*-5/);
});

/**
 * Run one command in-process and return what it printed on stdout as the one JSON
 * document it must be (the whole of stdout goes to JSON.parse).
 */
async function jsonOf(
  env: NodeJS.ProcessEnv,
  args: string[],
  io: Partial<Parameters<typeof runCli>[1]> = {},
): Promise<{ code: number; doc: unknown; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { out: (s) => out.push(s), err: (s) => err.push(s), env, ...io });
  const stdout = out.join('\n');
  if (io.err) err.push('(stderr captured by the caller)');
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch (e) {
    assert.fail(
      `${args.join(' ')} (exit ${code}): stdout is not one JSON document (${(e as Error).message}): ${JSON.stringify(stdout.slice(0, 400))}; stderr ${JSON.stringify(err)}`,
    );
  }
  return { code, doc, err };
}

test('--format json: every command that prints prints exactly one JSON document', async (t) => {
  const { startFakeAuth } = await import('./support/auth.ts');
  const auth = await startFakeAuth();
  t.after(() => auth.close());
  const { env: base, home, daemon } = await daemonHome(t);
  const userHome = path.join(home, 'user');
  fs.mkdirSync(userHome);
  const env: NodeJS.ProcessEnv = { ...base, HOME: userHome, GLOBUS_SDK_SERVICE_URL_AUTH: auth.baseUrl, GLOBUS_TIMER_TRANSFER_ACTION_URL: provider.runUrl };
  delete env.XDG_CONFIG_HOME;
  delete env.GLOBUS_TIMER_CLIENT_ID;
  delete env.GLOBUS_TIMER_CLIENT_SECRET;
  // The user at the terminal: reads the login URL (printed to stderr under --format json)
  // and pastes the code Globus shows.
  const errLines: string[] = [];
  const loginIo = {
    err: (s: string) => {
      errLines.push(s);
      if (s.startsWith('globus-timer: ')) t.diagnostic(s);
    },
    readLine: async () => auth.approve([...errLines.join('\n').matchAll(/https?:\/\/\S+\/v2\/oauth2\/authorize\?\S+/g)].at(-1)![0]),
  };
  // `job run` really fires it: at the loopback provider.
  const kept = daemon.service.submit({ ...params('kept'), callback_url: provider.runUrl }).job_id;
  const gone = [daemon.service.submit(params('gone-1')).job_id, daemon.service.submit(params('gone-2')).job_id, daemon.service.submit(params('gone-3')).job_id];
  const transferArgs = [
    'job',
    'transfer',
    '--name',
    'tr',
    '--interval',
    '1d',
    '--start',
    FUTURE,
    '--source-endpoint',
    '000a11ce-0000-1000-8000-000000000003',
    '--dest-endpoint',
    '000a11ce-0000-1000-8000-000000000002',
    '--item',
    '/a',
    '/b',
    'false',
  ];
  const isJob = (d: unknown) => assert.match((d as JobDocument).job_id, UUID);
  const isJobs = (n?: number) => (d: unknown) => {
    assert.ok(Array.isArray(d));
    if (n !== undefined) assert.equal(d.length, n);
    for (const j of d) isJob(j);
  };

  // [command line, exit code, check of the document, extra io]
  const table: [string[], number, (doc: unknown) => void, object?][] = [
    [['session', 'login', '--no-browser', '--format', 'json'], 0, (d) => assert.deepEqual(d, { logged_in: true, username: 'alice@example.org' }), loginIo],
    [['session', 'whoami', '--format', 'json'], 0, (d) => assert.equal((d as { preferred_username: string }).preferred_username, 'alice@example.org')],
    [[...submitArgs(), '--format', 'json'], 0, isJob],
    [[...submitArgs(), '-v'], 0, isJob],
    [[...transferArgs, '--format', 'json'], 0, (d) => assert.equal((d as JobDocument).callback_url, provider.runUrl)],
    [['job', 'list', '--format', 'json'], 0, isJobs()],
    [['job', 'list', '--show-deleted', '-v'], 0, isJobs()],
    [['job', 'status', kept, '--format', 'json'], 0, (d) => assert.equal((d as JobDocument).job_id, kept)],
    [['job', 'status', '--all', '--format', 'json'], 0, isJobs()],
    [
      ['job', 'resume', kept, '--format', 'json'],
      0,
      (d) => assert.deepEqual([(d as { job: JobDocument }).job.job_id, (d as { resumed: boolean }).resumed], [kept, false]),
    ],
    [
      ['job', 'delete', gone[0]!, '--format', 'json'],
      0,
      (d) =>
        assert.deepEqual(
          (d as JobDocument[]).map((j) => j.status),
          ['deleted'],
        ),
    ],
    [['job', 'delete', gone[1]!, gone[2]!, '--format', 'json'], 0, isJobs(2)],
    [['daemon', 'status', '--format', 'json'], 0, (d) => assert.equal((d as { running: boolean }).running, true)],
    [['daemon', 'logs', '--format', 'json'], 0, (d) => assert.deepEqual(d, [])],
    [['daemon', 'install', '--dry-run', '--systemd', '--format', 'json'], 0, (d) => assert.equal((d as { dry_run: boolean }).dry_run, true)],
    [['daemon', 'uninstall', '--dry-run', '--systemd', '--format', 'json'], 0, (d) => assert.equal((d as { dry_run: boolean }).dry_run, true)],
    [['session', 'revoke', '--format', 'json'], 0, (d) => assert.deepEqual(d, { revoked: true })],
    [['session', 'login', '--no-browser', '--format', 'json'], 0, (d) => assert.equal((d as { logged_in: boolean }).logged_in, true), loginIo],
    [['session', 'logout', '--format', 'json'], 0, (d) => assert.deepEqual(d, { logged_out: true })],
  ];
  for (const [args, code, check, io] of table) {
    const r = await jsonOf(env, args, io);
    assert.equal(r.code, code, `${args.join(' ')}: exit ${r.code}, stderr ${JSON.stringify(r.err)}`);
    check(r.doc);
  }
  assert.deepEqual(filesUnder(userHome), [], 'the dry runs wrote files');

  // The commands of issue 7 that other parts add: checked once they are registered.
  const pending: [string[], (doc: unknown) => void][] = [
    [['job', 'pause', kept, '--note', 'maintenance', '--format', 'json'], (d) => assert.equal((d as { job: JobDocument }).job.job_id, kept)],
    [['job', 'resume', kept, '--format', 'json'], (d) => assert.ok(d && typeof d === 'object')],
    [['job', 'next', kept, '-n', '3', '--format', 'json'], (d) => assert.ok(Array.isArray((d as { slots: unknown }).slots))],
    [['job', 'update', kept, '--name', 'renamed', '--format', 'json'], (d) => assert.ok(d && typeof d === 'object')],
    [['job', 'run', kept, '--format', 'json'], (d) => assert.ok(d && typeof d === 'object')],
    [['job', 'history', kept, '--format', 'json'], (d) => assert.ok(d && typeof d === 'object')],
  ];
  for (const [args, check] of pending) {
    const probe = await cli(env, args);
    if (probe.code === 2 && /unknown command|job command/.test(probe.err.join('\n'))) {
      t.diagnostic(`not registered yet, not checked: ${args.slice(0, 2).join(' ')}`);
      continue;
    }
    assert.equal(probe.code, 0, `${args.join(' ')}: ${JSON.stringify(probe.err)}`);
    let doc: unknown;
    assert.doesNotThrow(() => (doc = JSON.parse(probe.stdout)), `${args.join(' ')}: stdout is not one JSON document: ${probe.stdout.slice(0, 400)}`);
    check(doc);
  }

  // No daemon (its own home): stop and status still answer in JSON; start really starts one.
  const { env: bare } = makeHome(t);
  const stopped = await jsonOf(bare, ['daemon', 'stop', '--format', 'json']);
  assert.deepEqual([stopped.code, stopped.doc], [0, { running: false, stopped: false, pid: null }]);
  const status = await jsonOf(bare, ['daemon', 'status', '--format', 'json']);
  assert.equal(status.code, 3);
  assert.equal((status.doc as { running: boolean }).running, false);
  const started = await jsonOf(bare, ['daemon', 'start', '--format', 'json']);
  t.after(() => runCli(['daemon', 'stop'], { out: () => {}, err: () => {}, env: bare }));
  assert.equal(started.code, 0, JSON.stringify(started.err));
  const pid = (started.doc as { pid: number; started: boolean }).pid;
  assert.equal((started.doc as { started: boolean }).started, true);
  const again = await jsonOf(bare, ['daemon', 'start', '--format', 'json']);
  assert.deepEqual(again.doc, { running: true, started: false, pid, api_url: null });
  const logs = await jsonOf(bare, ['daemon', 'logs', '--format', 'json']);
  assert.ok(Array.isArray(logs.doc) && logs.doc.some((e) => (e as { msg?: string }).msg === 'daemon listening'));
  const stop = await jsonOf(bare, ['daemon', 'stop', '--format', 'json']);
  assert.deepEqual(stop.doc, { running: false, stopped: true, pid });
});

test('session login --scope: a scope that is not one is refused before any login (issue 11 item 6)', async (t) => {
  const { env } = makeHome(t);
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell text, where ${…} is the shell's own
  const r = await cli(env, ['session', 'login', '--no-browser', '--scope', 'openid', '--scope', "a';touch${IFS}x;'"]);
  assertUsageError(r, 'session login --scope', /^globus-timer: invalid --scope "a';touch\$\{IFS\}x;'": "'" cannot be part of a scope/);
});

/** Anything a terminal would act on: C0 but \n, DEL, C1, bidi embeddings/overrides/isolates. */
const RAW_UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

test('text stored by an older version or another client reaches the terminal inert (issue 11 item 7)', async (t) => {
  const { env, daemon } = await daemonHome(t);
  const submitted = await cli(env, [...submitArgs({ '--name': 'plain' }), '--format', 'json']);
  assert.equal(submitted.code, 0, submitted.err.join('\n'));
  const jobId = (JSON.parse(submitted.stdout) as JobDocument).job_id;

  // Straight into the database, past every input check: clear the screen, a one-byte CSI,
  // a right-to-left override, a bell, a fake table row.
  const hostile = 'evil\u001b[2J\u009b31m\u202etxt.exe\u0007\nfake | row';
  daemon.db
    .update(jobs)
    .set({ name: hostile, status: 'inactive', inactiveReason: { cause: 'user', detail: hostile } })
    .where(eq(jobs.id, jobId))
    .run();
  const now = Date.now();
  daemon.db
    .insert(runs)
    .values({
      jobId,
      slotAtMs: now - 1000,
      requestId: 'hostile-run',
      state: 'failed',
      firedAtMs: now - 1000,
      retryUntilMs: now,
      attempts: 1,
      actionId: hostile,
      actionStatus: hostile,
      error: { code: 'ACTION_HTTP', message: hostile },
      completedAtMs: now,
    })
    .run();

  const commands = [
    ['job', 'list'],
    ['job', 'status', jobId],
    ['job', 'status', '--all'],
    ['job', 'history', jobId],
    ['job', 'pause', jobId],
    ['job', 'list', '--format', 'json'],
    ['job', 'status', jobId, '--format', 'json'],
    ['job', 'history', jobId, '--format', 'json'],
    ['job', 'status', jobId, '-v'],
    ['job', 'resume', jobId],
  ];
  for (const args of commands) {
    const r = await cli(env, args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${JSON.stringify(r.err)}`);
    assert.doesNotMatch(r.stdout, RAW_UNSAFE, `${args.join(' ')} printed a raw control character: ${JSON.stringify(r.stdout)}`);
    assert.ok(!r.stdout.includes(`\nfake | row`), `${args.join(' ')}: a stored newline made a line of its own`);
    // JSON stays valid and says exactly what is stored.
    if (args.includes('--format') || args.includes('-v')) {
      const doc = JSON.parse(r.stdout) as JobDocument | JobDocument[] | { runs: { action_id: string }[] };
      if (Array.isArray(doc)) assert.equal(doc.find((j) => j.job_id === jobId)?.name, hostile);
      else if ('runs' in doc) assert.equal(doc.runs[0]?.action_id, hostile);
      else assert.equal(doc.name, hostile);
    }
  }
  // What the daemon puts in an error message is printed the same way: here, the names of the
  // jobs an ambiguous id prefix matches. (An id the CLI refuses itself is printed inert too.)
  const twin = `${jobId.slice(0, 4)}ffff-0000-4000-8000-000000000000`;
  daemon.db
    .insert(jobs)
    .values({ ...daemon.db.select().from(jobs).where(eq(jobs.id, jobId)).get()!, id: twin })
    .run();
  const ambiguous = await cli(env, ['job', 'status', jobId.slice(0, 4)]);
  assert.equal(ambiguous.code, 2);
  assert.match(ambiguous.err.join('\n'), new RegExp(`${twin} \\(evil`));
  assert.doesNotMatch(ambiguous.err.join('\n'), RAW_UNSAFE);
  const malformed = await cli(env, ['job', 'status', 'nope\u001b]0;owned\u0007']);
  assert.equal(malformed.code, 2);
  assert.doesNotMatch(malformed.err.join('\n'), RAW_UNSAFE);
});
