/**
 * Issue 12, items 4, 5, 6, 7 and 9: what the CLI promises a user and a script, through the
 * real CLI process (bin/globus-timer.js) and, where one is involved, a real daemon: exact
 * exit codes, the one stderr line, and the `--format json` documents key by key.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { after, type TestContext } from 'node:test';
import { startDaemon, type Daemon } from '../src/daemon/daemon.ts';
import { isProcessAlive } from '../src/fs/daemon-lock.ts';
import { silentLogger } from '../src/log/logger.ts';
import type { JobDocument, SubmitJobParams } from '../src/contract/protocol.ts';
import { waitFor } from './support/clocked-daemon.ts';
import { ROOT, runCliProcess, TEST_TOKEN_RULES, tempHome, testConfig, type CliResult } from './support/env.ts';
import { startFakeProvider } from './support/provider.ts';

const provider = await startFakeProvider();
after(() => provider.close());

/** An in-process daemon in a fresh home (autostart off: the CLI must use this one). */
async function daemonHome(t: TestContext): Promise<{ env: NodeJS.ProcessEnv; daemon: Daemon }> {
  const { paths, env } = tempHome(t);
  const daemon = await startDaemon({ paths, config: testConfig(), log: silentLogger(), tokenRules: TEST_TOKEN_RULES });
  t.after(() => daemon.stop());
  return { env: { ...env, GLOBUS_TIMER_NO_AUTOSTART: '1' }, daemon };
}

function submit(daemon: Daemon, name: string, over: Partial<SubmitJobParams> = {}): string {
  return daemon.service.submit({
    name,
    start: '2099-01-01T00:00:00Z',
    interval_seconds: 3600,
    callback_url: provider.runUrl,
    callback_body: { body: { n: name } },
    scope: null,
    ...over,
  }).job_id;
}

/** Exit code, stdout and stderr exactly: a failure is one `globus-timer:` line and nothing on stdout. */
function assertFails(r: CliResult, code: number, line: string, what: string): void {
  assert.deepEqual({ code: r.code, stdout: r.stdout, stderr: r.stderr }, { code, stdout: '', stderr: `globus-timer: ${line}\n` }, what);
}

/** stdout as the one JSON document it must be. */
function json<T = Record<string, unknown>>(r: CliResult, what: string): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    return assert.fail(`${what}: stdout is not one JSON document: ${JSON.stringify(r.stdout.slice(0, 300))} (stderr ${JSON.stringify(r.stderr)})`);
  }
}

/** Every key of a document, at any depth, is snake_case (issue 12 item 7). */
function assertSnakeCase(value: unknown, what: string, at = '$'): void {
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) assertSnakeCase(v, what, `${at}[${i}]`);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const [k, v] of Object.entries(value)) {
    assert.match(k, /^[a-z0-9_]+$/, `${what}: key ${at}.${k} is not snake_case`);
    // callback_body is the user's own action body, data the provider's document: their keys are theirs.
    if (k !== 'callback_body' && k !== 'data') assertSnakeCase(v, what, `${at}.${k}`);
  }
}

const deletedLine = (id: string) => `job ${id} is deleted: it never runs again (its history stays readable: globus-timer job history ${id})`;

// ---------------------------------------------------------------------------------------
// Item 4: a second daemon; a state directory it cannot use

test('a second daemon (npm start after autostart): one stderr line with the pid, exit 1, no pino JSON', async (t) => {
  const { env } = tempHome(t); // log level debug, as in development: nothing may leak to stderr even so
  const first = await runCliProcess(['job', 'list'], env); // autostarts one in the background
  const pid = Number(/started the daemon in the background \(pid (\d+)\)/.exec(first.stderr)?.[1]);
  // By pid: the home is removed first (tempHome's hook), and `daemon stop` would find no socket.
  t.after(() => {
    if (pid > 0 && isProcessAlive(pid)) process.kill(pid, 'SIGTERM');
  });
  assert.equal(first.code, 0, first.stderr);
  assert.ok(pid > 0, first.stderr);

  // `npm start` is `node bin/globus-timer.js daemon run`.
  const second = await runCliProcess(['daemon', 'run'], env);
  assertFails(second, 1, `a daemon is already running (pid ${pid}): globus-timer daemon stop stops it`, 'daemon run');
  const asJson = await runCliProcess(['daemon', 'run', '--format', 'json'], env);
  assert.equal(asJson.code, 1);
  assert.deepEqual(json(asJson, 'daemon run --format json'), {
    error: { code: 'DAEMON_ALREADY_RUNNING', message: `a daemon is already running (pid ${pid}): globus-timer daemon stop stops it` },
  });
  assert.equal(asJson.stderr, `globus-timer: a daemon is already running (pid ${pid}): globus-timer daemon stop stops it\n`);
  assert.equal((await runCliProcess(['daemon', 'status'], env)).code, 0, 'the first daemon still runs');
});

/** The errno a plain mkdir under /sys gets here (EPERM as root, EACCES as a user, EROFS where sysfs is mounted read-only). */
function sysMkdirCode(): string {
  const probe = `/sys/gt-probe-${process.pid}`;
  try {
    fs.mkdirSync(probe);
    fs.rmdirSync(probe);
    return 'none';
  } catch (err) {
    return String((err as NodeJS.ErrnoException).code);
  }
}

test('a state directory that cannot be created: what, where, why in words and the fix, one line', async (t) => {
  const code = sysMkdirCode();
  if (!['EPERM', 'EACCES', 'EROFS'].includes(code)) return t.skip(`mkdir under /sys gives ${code} here`);
  const home = `/sys/gt-${process.pid}`;
  const env = { ...process.env, GLOBUS_TIMER_HOME: home, GLOBUS_TIMER_LOG_LEVEL: 'debug' };
  const [run, list] = await Promise.all([runCliProcess(['daemon', 'run'], env), runCliProcess(['job', 'list'], env)]);
  // Not node's `EPERM: operation not permitted, mkdir '/sys/…'`, and no stack.
  const line = (what: string) =>
    new RegExp(`^globus-timer: cannot create the ${what} ${home.replace(/\//g, '\\/')}[^:]*: [a-z -]+ \\(${code}\\); [^\\n]*GLOBUS_TIMER_HOME[^\\n]*\\n$`);
  assert.equal(run.code, 1);
  assert.equal(run.stdout, '');
  assert.match(run.stderr, line('state directory'));
  // The CLI, autostarting a daemon, first needs the log directory.
  assert.equal(list.code, 1);
  assert.equal(list.stdout, '');
  assert.match(list.stderr, line('log directory'));
});

/** Run the CLI with `dir` a read-only file system (a private mount namespace); null where that cannot be set up. */
function cliOnReadOnlyMount(dir: string, args: string[], env: NodeJS.ProcessEnv): CliResult | null {
  const script = 'mount -t tmpfs -o ro,size=64k tmpfs "$1" || exit 99; shift; exec "$@"';
  const r = spawnSync('unshare', ['-m', 'sh', '-c', script, 'sh', dir, process.execPath, path.join(ROOT, 'bin/globus-timer.js'), ...args], {
    env,
    encoding: 'utf8',
  });
  return r.error || r.status === 99 ? null : { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('a read-only state directory: EROFS in words, where, and the fix; no errno text or stack', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const env = { ...process.env, GLOBUS_TIMER_HOME: path.join(dir, 'state'), GLOBUS_TIMER_LOG_LEVEL: 'debug' };
  const run = cliOnReadOnlyMount(dir, ['daemon', 'run'], env);
  if (!run) return t.skip('no private mount namespace here (needs root and unshare)');
  assertFails(
    run,
    1,
    `cannot create the state directory ${dir}/state: read-only file system (EROFS); set GLOBUS_TIMER_HOME to a writable directory`,
    'daemon run',
  );
  const list = cliOnReadOnlyMount(dir, ['job', 'list'], env)!;
  assertFails(
    list,
    1,
    `cannot create the log directory ${dir}/state/logs: read-only file system (EROFS); set GLOBUS_TIMER_HOME to a writable directory`,
    'job list',
  );
});

test("another user's state directory: one line saying whose and the fix; no pino JSON", async (t) => {
  if (process.getuid?.() !== 0) return t.skip('making a directory of another user needs root');
  const { home, env } = tempHome(t);
  fs.chownSync(home, 65534, 65534);
  const run = await runCliProcess(['daemon', 'run'], env);
  // The token cache's directory is checked first (GLOBUS_TIMER_HOME holds everything).
  assertFails(
    run,
    1,
    `token cache directory ${home} is owned by uid 65534, not by you (uid 0); remove it (another user may have created it), or set GLOBUS_TIMER_HOME to a directory of your own`,
    'daemon run',
  );
});

// ---------------------------------------------------------------------------------------
// Item 5: daemon logs -n

test('daemon logs -n: 0 prints nothing (exit 0); anything but a whole number is a usage error', async (t) => {
  const { paths, env } = tempHome(t);
  // A detached daemon's log, as it leaves it: no daemon needs to run to read it.
  fs.mkdirSync(paths.logDir, { mode: 0o700 });
  const entry = (msg: string) => JSON.stringify({ level: 30, time: '2026-03-14T12:00:00.000Z', pid: 1, msg });
  fs.writeFileSync(path.join(paths.logDir, 'daemon.1.log'), `${entry('first')}\n${entry('daemon listening')}\n`, { mode: 0o600 });

  const [zero, zeroJson, one, ...bad] = await Promise.all([
    runCliProcess(['daemon', 'logs', '-n', '0'], env),
    runCliProcess(['daemon', 'logs', '-n', '0', '--format', 'json'], env),
    runCliProcess(['daemon', 'logs', '-n', '1'], env),
    ...['abc', '-1', '1.5', ''].map((n) => runCliProcess(['daemon', 'logs', '-n', n], env)),
    runCliProcess(['daemon', 'logs', '--lines=abc'], env),
  ]);
  assert.deepEqual(zero, { code: 0, stdout: '', stderr: '' }, 'zero lines asked for: nothing, not "no daemon log"');
  assert.deepEqual([zeroJson.code, json(zeroJson, '-n 0 --format json')], [0, []]);
  assert.equal(one.code, 0);
  assert.match(one.stdout, /^\[[^\]]+\] INFO: daemon listening\n$/);
  for (const [i, n] of ['abc', '-1', '1.5', '', 'abc'].entries()) {
    assertFails(bad[i]!, 2, `invalid -n ${JSON.stringify(n)}: give a whole number of lines, 0 or more`, `-n ${JSON.stringify(n)}`);
  }
});

// ---------------------------------------------------------------------------------------
// Item 6: exit codes

test('globus-timer with no command, and a group without a subcommand, print the help on stdout: exit 0', async () => {
  const runs = await Promise.all([[], ['job'], ['daemon'], ['session'], ['--format', 'json']].map((args) => runCliProcess(args, process.env)));
  const [root, job, daemon, session, rootJson] = runs;
  for (const [i, r] of runs.entries()) {
    assert.equal(r.code, 0, `help ${i}: ${r.stderr}`);
    assert.equal(r.stderr, '');
  }
  assert.match(root!.stdout, /^globus-timer <command>\n/);
  assert.match(root!.stdout, /^ {2}globus-timer job +Submit and manage timer jobs$/m);
  assert.equal(rootJson!.stdout, root!.stdout, 'the help is the help, whatever the format');
  assert.match(job!.stdout, /^globus-timer job\n/);
  assert.match(job!.stdout, /^ {2}globus-timer job submit /m);
  assert.match(daemon!.stdout, /^ {2}globus-timer daemon stop /m);
  assert.match(session!.stdout, /^ {2}globus-timer session login /m);
  const help = await runCliProcess(['--help'], process.env);
  assert.equal(help.stdout, root!.stdout, '--help prints it once');
});

test('a deleted job: every command that cannot act on it exits 1 with one line; status, history and next still answer', async (t) => {
  const { env, daemon } = await daemonHome(t);
  const id = submit(daemon, 'gone');
  daemon.service.delete(id);

  const refusing = [
    ['job', 'update', id, '--name', 'renamed'],
    ['job', 'pause', id],
    ['job', 'resume', id],
    ['job', 'run', id],
  ];
  const results = await Promise.all(refusing.map((args) => runCliProcess(args, env)));
  for (const [i, r] of results.entries()) assertFails(r, 1, deletedLine(id), refusing[i]!.join(' '));
  const asJson = await runCliProcess(['job', 'pause', id, '--format', 'json'], env);
  assert.equal(asJson.code, 1);
  assert.deepEqual(json(asJson, 'pause --format json'), { error: { code: 'JOB_DELETED', message: deletedLine(id) } });
  assert.equal(daemon.service.get(id).name, 'gone', 'nothing changed');

  const [status, history, next] = await Promise.all([
    runCliProcess(['job', 'status', id], env),
    runCliProcess(['job', 'history', id], env),
    runCliProcess(['job', 'next', id], env),
  ]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /^Status: +deleted$/m);
  assert.equal(history.code, 0, history.stderr);
  assert.equal(history.stdout, `Job ${id} has not run yet.\n`);
  assert.equal(next.code, 0, next.stderr);
  assert.equal(next.stdout, 'No upcoming runs: the job is deleted: it never runs again.\n');
});

// ---------------------------------------------------------------------------------------
// Item 7: --format json

test('--format json: one documented shape per command, snake_case keys throughout', async (t) => {
  const { env, daemon } = await daemonHome(t);
  const a = submit(daemon, 'a');
  const b = submit(daemon, 'b');
  const c = submit(daemon, 'c');
  const cli = async (...args: string[]) => {
    const r = await runCliProcess([...args, '--format', 'json'], env);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    const doc = json(r, args.join(' '));
    assertSnakeCase(doc, args.join(' '));
    return doc;
  };
  const keys = (d: unknown) => Object.keys(d as object);

  // pause and resume alike: {job, paused} / {job, resumed}, whether or not anything changed.
  const paused = await cli('job', 'pause', a);
  assert.deepEqual(keys(paused), ['job', 'paused']);
  assert.deepEqual([(paused.job as JobDocument).job_id, paused.paused], [a, true]);
  const again = await cli('job', 'pause', a);
  assert.deepEqual([keys(again), again.paused], [['job', 'paused'], false]);
  const resumed = await cli('job', 'resume', a);
  assert.deepEqual(keys(resumed), ['job', 'resumed']);
  assert.deepEqual([(resumed.job as JobDocument).status, resumed.resumed], ['loaded', true]);
  const notPaused = await cli('job', 'resume', a);
  assert.deepEqual([keys(notPaused), notPaused.resumed], [['job', 'resumed'], false]);

  const run = await cli('job', 'run', a);
  assert.deepEqual(keys(run), ['job', 'run']);
  const updated = await cli('job', 'update', a, '--interval', '2h');
  assert.deepEqual(keys(updated), ['job', 'reanchored']);
  assert.equal(updated.reanchored, true);

  const one = await cli('job', 'status', a);
  assert.equal(one.job_id, a);
  assert.ok(Array.isArray(await cli('job', 'status', '--all')));
  assert.ok(Array.isArray(await cli('job', 'list')));

  // delete: an array, one id or many.
  const deletedOne = (await cli('job', 'delete', b)) as unknown as JobDocument[];
  assert.deepEqual(
    deletedOne.map((j) => [j.job_id, j.status]),
    [[b, 'deleted']],
  );
  const deletedTwo = (await cli('job', 'delete', a, c)) as unknown as JobDocument[];
  assert.deepEqual(
    deletedTwo.map((j) => j.job_id),
    [a, c],
  );

  const install = await cli('daemon', 'install', '--dry-run', '--systemd');
  assert.deepEqual(keys(install), ['kind', 'dry_run', 'dirs', 'files', 'commands', 'socket_path', 'api_url', 'notes', 'written', 'ran', 'ok']);
  assert.deepEqual(keys((install.commands as object[])[0]), ['argv', 'shell', 'may_fail']);
  const uninstall = await cli('daemon', 'uninstall', '--dry-run', '--systemd');
  assert.ok(keys(uninstall).includes('after_commands') && keys(uninstall).includes('dry_run'), keys(uninstall).join());

  // -v keeps the original CLI's meaning: the job document.
  const verbose = await runCliProcess(['job', 'status', a, '-v'], env);
  assert.equal(json<JobDocument>(verbose, 'status -v').job_id, a);
});

test('--format json: a failure is {"error": {code, message}} on stdout plus the one stderr line, same exit code', async (t) => {
  const { env, daemon } = await daemonHome(t);
  const id = submit(daemon, 'kept');
  const unknown = '00000000-0000-4000-8000-000000000000';
  const cases: [string[], number, string][] = [
    [['job', 'status', unknown, '--format', 'json'], 1, 'JOB_NOT_FOUND'],
    [['job', 'status', '--format=json'], 2, 'INVALID_INPUT'], // the handler's usage error
    [['job', 'frobnicate', '--format', 'json'], 2, 'INVALID_INPUT'], // yargs' own
    [['daemon', 'logs', '-n', 'x', '--format', 'json'], 2, 'INVALID_INPUT'],
    [['job', 'list', '--format', 'json'], 1, 'DAEMON_NOT_RUNNING'], // another home, no daemon
  ];
  const noDaemon = { ...tempHome(t).env, GLOBUS_TIMER_NO_AUTOSTART: '1' };
  const results = await Promise.all(cases.map(([args], i) => runCliProcess(args, i === cases.length - 1 ? noDaemon : env)));
  for (const [i, r] of results.entries()) {
    const [args, code, errorCode] = cases[i]!;
    const what = args.join(' ');
    assert.equal(r.code, code, `${what}: ${r.stderr}`);
    const doc = json<{ error: { code: string; message: string } }>(r, what);
    assert.deepEqual(Object.keys(doc), ['error'], what);
    assert.deepEqual(Object.keys(doc.error), ['code', 'message'], what);
    assert.equal(doc.error.code, errorCode, what);
    assert.equal(r.stderr, `globus-timer: ${doc.error.message}\n`, `${what}: the same words on stderr, one line`);
  }
  // -v asks for a job document, which a failure has not: text only, as the original CLI.
  const verbose = await runCliProcess(['job', 'status', unknown, '-v'], env);
  assert.deepEqual([verbose.code, verbose.stdout], [1, '']);
  assert.equal(daemon.service.get(id).status, 'loaded');
});

// ---------------------------------------------------------------------------------------
// Item 9: Last Run Error

test('job status of a job whose last run failed says why in one line and points to job history', async (t) => {
  const { env, daemon } = await daemonHome(t);
  const refused = submit(daemon, 'refused');
  const failedAction = submit(daemon, 'failed-action');
  const fine = submit(daemon, 'fine');
  // A submission the provider refuses, with a terminal escape in its text; an action that ends FAILED.
  provider.runReplies = [
    { kind: 'raw', httpStatus: 400, body: { code: 'BadRequest', description: 'source_endpoint is not a UUID \u001b[31mred\u001b[0m\nsecond line' } },
    { kind: 'accept', httpStatus: 202, activePolls: 0, final: 'FAILED', document: { details: { code: 'FlowFailed', description: 'step Transfer failed' } } },
  ];
  for (const id of [refused, failedAction, fine]) {
    assert.equal((await runCliProcess(['job', 'run', id], env)).code, 0);
    await waitFor(`the run of ${id} to end`, () => daemon.service.get(id).results.data[0]?.completed_at);
  }

  const summaryOf = (id: string) => daemon.service.history({ job_id: id }).runs[0]!.summary;
  for (const id of [refused, failedAction]) {
    const status = await runCliProcess(['job', 'status', id], env);
    assert.equal(status.code, 0, status.stderr);
    const lines = status.stdout.trimEnd().split('\n');
    const errorLine = lines.find((l) => l.startsWith('Last Run Error:'));
    assert.ok(errorLine, status.stdout);
    assert.equal(lines.indexOf(errorLine), lines.findIndex((l) => l.startsWith('Last Run Result:')) + 1, 'right after Last Run Result');
    // The Summary of job history, in the record's value column, then where to read more.
    assert.equal(errorLine.replace(/^Last Run Error: +/, ''), `${summaryOf(id)} (see: globus-timer job history ${id})`);
    assert.match(status.stdout, /^Last Run Result: +FAILED$/m);
  }
  const refusedStatus = (await runCliProcess(['job', 'status', refused], env)).stdout;
  assert.match(refusedStatus, /^Last Run Error: +.*BadRequest: source_endpoint is not a UUID .*red.* second line \(see: /m);
  assert.doesNotMatch(refusedStatus, /\u001b/, 'provider text reaches the terminal inert');
  assert.match((await runCliProcess(['job', 'status', failedAction], env)).stdout, /^Last Run Error: +FAILED: FlowFailed: step Transfer failed \(see: /m);

  const [ok, list] = await Promise.all([runCliProcess(['job', 'status', fine], env), runCliProcess(['job', 'list'], env)]);
  assert.doesNotMatch(ok.stdout, /Last Run Error/, 'a run that succeeded');
  assert.doesNotMatch(list.stdout, /Last Run Error|not a UUID/, 'job list is unchanged');
});
