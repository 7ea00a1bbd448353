/**
 * Told when it fails (issue 16 item 5): `--on-failure CMD` and `--notify`, end to end with
 * real processes (the daemon, the CLI, the hook's shell) and loopback Action Providers, plus
 * the inactive case in-process (a job whose token is missing).
 */
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { HistoryPage, JobDocument } from '../src/contract/protocol.ts';
import { startDaemon } from '../src/daemon/daemon.ts';
import { silentLogger } from '../src/log/logger.ts';
import { onFailureDefaultFromEnv, resolveConfig } from '../src/config/config.ts';
import { desktopNotification } from '../src/daemon/notify/desktop.ts';
import { resolvePaths } from '../src/config/paths.ts';
import { HOOK_OUTPUT_CAP_BYTES, runHook } from '../src/daemon/notify/run-hook.ts';
import { FAST_POLLING, runCliProcess, startDaemonProcess, tempHome, testConfig, TEST_TOKEN_RULES, type DaemonProcess } from './support/env.ts';
import { startFakeProvider, type FakeProvider } from './support/provider.ts';

async function provider(t: TestContext, fail: boolean): Promise<FakeProvider> {
  const p = await startFakeProvider();
  t.after(() => p.close());
  setFailing(p, fail);
  return p;
}

/** Failing: every run request is refused with a 400 (the run fails at once, ACTION_HTTP); else accepted and SUCCEEDED. */
function setFailing(p: FakeProvider, fail: boolean): void {
  p.defaultRunReply = fail
    ? { kind: 'raw', httpStatus: 400, body: { code: 'BadRequest', description: 'no such path /~/backup' } }
    : { kind: 'accept', httpStatus: 202, activePolls: 0, final: 'SUCCEEDED' };
}

/** A home for the daemon and its hooks: HOME is it too (a hook runs there), with secrets in the environment. */
function hookHome(t: TestContext, extra: NodeJS.ProcessEnv = {}) {
  const { home, env: base } = tempHome(t);
  const out = path.join(home, 'hook.out');
  const script = path.join(home, 'hook.sh');
  fs.writeFileSync(script, HOOK_SCRIPT, { mode: 0o700 });
  const env: NodeJS.ProcessEnv = {
    ...base,
    ...FAST_POLLING,
    HOME: home,
    GLOBUS_TIMER_NO_AUTOSTART: '1',
    // None of these may reach a hook.
    GLOBUS_TIMER_SERVICE_TOKEN: 'service-token-do-not-leak',
    GLOBUS_CLIENT_SECRET: 'client-secret-do-not-leak',
    MY_API_TOKEN: 'api-token-do-not-leak',
    ...extra,
  };
  return { home, env, out, command: `${script} ${out}` };
}

/** Appends its whole environment (and where it runs) as one record per call, its end marked: a record still being written is not read. */
const HOOK_SCRIPT = '#!/bin/sh\n{ echo "--- $(pwd)"; env; echo "=== end"; } >> "$1"\n';

interface HookCall {
  cwd: string;
  env: Record<string, string>;
}

function hookCalls(out: string): HookCall[] {
  if (!fs.existsSync(out)) return [];
  return fs
    .readFileSync(out, 'utf8')
    .split(/^--- /m)
    .filter((record) => record.endsWith('\n=== end\n'))
    .map((record) => {
      const [cwd, ...lines] = record.split('\n');
      const env: Record<string, string> = {};
      for (const line of lines) {
        const eq = line.indexOf('=');
        if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
      }
      return { cwd: cwd!, env };
    });
}

async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function cli(args: string[], env: NodeJS.ProcessEnv) {
  const r = await runCliProcess(args, env);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function submit(env: NodeJS.ProcessEnv, ap: FakeProvider, name: string, interval: string, ...flags: string[]): Promise<JobDocument> {
  const out = await cli(
    [
      'job',
      'submit',
      `--name=${name}`,
      '--interval',
      interval,
      '--action-url',
      ap.runUrl,
      '--action-body',
      '{"body": {}}',
      '--no-scope',
      '--format',
      'json',
      ...flags,
    ],
    env,
  );
  return JSON.parse(out) as JobDocument;
}

async function history(env: NodeJS.ProcessEnv, jobId: string): Promise<HistoryPage['runs']> {
  const out = await cli(['job', 'history', jobId, '--format', 'json', '--limit', '100'], env);
  return (JSON.parse(out) as { runs: HistoryPage['runs'] }).runs;
}

function logged(daemon: DaemonProcess, msg: RegExp): Record<string, unknown>[] {
  return daemon.logLines().filter((l) => typeof l.msg === 'string' && msg.test(l.msg));
}

/** Whether a process runs: a zombie (killed, not yet reaped by an init that reaps slowly) does not. */
function running(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

function assertNoSecrets(call: HookCall): void {
  for (const [key, value] of Object.entries(call.env)) {
    assert.doesNotMatch(key, /TOKEN|SECRET/i, `no token-like variable: ${key}`);
    assert.doesNotMatch(value, /do-not-leak/, `no secret in ${key}`);
  }
}

test('--on-failure runs once per failure streak with the run in its variables, never a token, and again on recovery', async (t) => {
  const ap = await provider(t, true);
  const h = hookHome(t);
  const daemon = await startDaemonProcess(t, h.env);
  const job = await submit(h.env, ap, 'nightly backup', '1', '--on-failure', h.command);
  assert.deepEqual(job.on_failure, { command: h.command, notify: false });

  // Three failed runs, then the provider recovers.
  await until('three failed runs', () => ap.runRequests().length >= 3);
  await until('the failure hook', () => hookCalls(h.out).length >= 1);
  const failedSoFar = ap.runRequests().length;
  setFailing(ap, false);
  await until('the recovery hook', () => hookCalls(h.out).length >= 2);
  // A few more successes tell nothing more.
  await until('two more runs', () => ap.runRequests().length >= failedSoFar + 3);
  await cli(['job', 'delete', job.job_id], h.env);
  const runs = await history(h.env, job.job_id);

  const calls = hookCalls(h.out);
  assert.equal(calls.length, 2, `one call for the streak, one for the recovery: ${calls.map((c) => c.env.GLOBUS_TIMER_RUN_STATUS).join(', ')}`);
  const [failed, recovered] = calls as [HookCall, HookCall];
  assert.ok(runs.filter((r) => r.run_state === 'failed').length >= 3, 'the streak had several failures');

  assert.equal(failed.cwd, h.home, "it runs in the user's home");
  assert.equal(failed.env.GLOBUS_TIMER_JOB_ID, job.job_id);
  assert.equal(failed.env.GLOBUS_TIMER_JOB_NAME, 'nightly backup');
  assert.equal(failed.env.GLOBUS_TIMER_RUN_STATUS, 'FAILED');
  assert.match(failed.env.GLOBUS_TIMER_ERROR!, /no such path \/~\/backup/);
  // The first failure of the streak, as `job history` shows it.
  const first = [...runs].reverse()[0]!;
  assert.equal(failed.env.GLOBUS_TIMER_SLOT, first.slot);
  assert.equal(failed.env.GLOBUS_TIMER_REQUEST_ID, first.request_id);
  const cells = failed.env.GLOBUS_TIMER_HISTORY_LINE!.split(' | ');
  assert.equal(cells.length, 6, failed.env.GLOBUS_TIMER_HISTORY_LINE);
  assert.deepEqual([cells[0], cells[1], cells[4]], [first.slot, first.ran_at, 'FAILED']);
  assert.match(cells[2]!, /^\d+(\.\d)? m?s$/, 'its lateness');
  assert.equal(cells[5], first.summary);
  assert.equal(failed.env.HOME, h.home);
  assert.equal(failed.env.PATH, h.env.PATH);

  assert.equal(recovered.env.GLOBUS_TIMER_RUN_STATUS, 'SUCCEEDED');
  assert.equal(recovered.env.GLOBUS_TIMER_ERROR, '');
  assert.match(recovered.env.GLOBUS_TIMER_HISTORY_LINE!, / \| SUCCEEDED \| /);
  for (const call of calls) assertNoSecrets(call);
  // Only the variables kept and ours: nothing else of the daemon's environment.
  const allowed =
    /^(PATH|HOME|USER|LOGNAME|LANG|LC_\w+|TZ|SHELL|DISPLAY|WAYLAND_DISPLAY|DBUS_SESSION_BUS_ADDRESS|XDG_RUNTIME_DIR|GLOBUS_TIMER_(JOB_ID|JOB_NAME|RUN_STATUS|ERROR|HISTORY_LINE|SLOT|REQUEST_ID|ACTION_ID)|PWD|SHLVL|_|OLDPWD)$/;
  for (const key of Object.keys(failed.env)) assert.match(key, allowed, `unexpected variable ${key}`);

  const ran = logged(daemon, /^failure hook ran$/);
  assert.equal(ran.length, 2);
  assert.equal(ran[0]!.level, 30, 'exit 0 is logged at info');
  assert.equal(ran[0]!.exitCode, 0);
});

test('a hook that hangs is stopped at its time limit with its process group, and the firing path stays on time meanwhile', async (t) => {
  const failing = await provider(t, true);
  const ok = await provider(t, false);
  const h = hookHome(t, { GLOBUS_TIMER_ON_FAILURE_TIMEOUT_MS: '3000' });
  const daemon = await startDaemonProcess(t, h.env);
  const steady = await submit(h.env, ok, 'every second', '1');
  await ok.waitForRuns(2, 10_000);
  // The hook starts a child of its own and waits: both must be gone at the limit.
  const pidFile = path.join(h.home, 'sleep.pid');
  const hang = `echo started >&2; sleep 60 & echo $! > ${pidFile}; wait`;
  const broken = await submit(h.env, failing, 'hangs', '1h', '--on-failure', hang);
  const stopped = await until('the hook to be stopped', () => logged(daemon, /time limit/)[0]);
  assert.equal(stopped.level, 40, 'warn');
  assert.equal(stopped.jobId, broken.job_id);
  assert.equal(stopped.signal, 'SIGTERM');
  assert.equal(stopped.stderr, 'started', 'its output is in the log');
  const duration = stopped.durationMs as number;
  assert.ok(duration >= 3000 && duration < 8000, `stopped at its limit: ${duration} ms`);
  const sleepPid = Number(fs.readFileSync(pidFile, 'utf8'));
  assert.equal(running(sleepPid), false, "the hook's child was stopped too");

  // The runs of the 1-second job fired while the hook slept were on time.
  const endMs = Date.parse(stopped.time as string);
  const during = (await history(h.env, steady.job_id)).filter((r) => {
    const fired = Date.parse(r.ran_at);
    return fired >= endMs - duration && fired <= endMs;
  });
  assert.ok(during.length >= 2, `runs fired while the hook ran: ${during.length}`);
  const late = during.map((r) => r.lateness_ms!);
  t.diagnostic(`lateness while the hook ran (ms): ${late.join(', ')}`);
  assert.ok(Math.max(...late) < 500, `fires stay near their slots while a hook runs: ${late.join(', ')}`);
});

test('the daemon-wide default runs for jobs without their own; a restart mid-streak does not tell the streak again', async (t) => {
  const ap = await provider(t, true);
  const h = hookHome(t);
  const env = { ...h.env, GLOBUS_TIMER_ON_FAILURE: h.command };
  let daemon = await startDaemonProcess(t, env);
  const job = await submit(env, ap, 'uses the default', '1');
  assert.equal(job.on_failure, undefined, 'the job has none of its own');
  await until('the default hook', () => hookCalls(h.out).length >= 1);

  assert.equal(await daemon.stop(), 0);
  const before = ap.runRequests().length;
  daemon = await startDaemonProcess(t, env);
  await until('two more failed runs after the restart', () => ap.runRequests().length >= before + 2);
  const runs = await history(env, job.job_id);
  assert.ok(runs.slice(0, 2).every((r) => r.run_state === 'failed'));
  assert.equal(hookCalls(h.out).length, 1, 'the streak is not told again after the restart');

  setFailing(ap, false);
  await until('the recovery', () => hookCalls(h.out).length >= 2);
  assert.deepEqual(
    hookCalls(h.out).map((c) => [c.env.GLOBUS_TIMER_JOB_ID, c.env.GLOBUS_TIMER_RUN_STATUS]),
    [
      [job.job_id, 'FAILED'],
      [job.job_id, 'SUCCEEDED'],
    ],
  );
  // A hook of its own replaces the default.
  const own = path.join(h.home, 'own.out');
  setFailing(ap, true);
  const other = await submit(env, ap, 'has its own', '1h', '--on-failure', `${path.join(h.home, 'hook.sh')} ${own}`);
  await until('its own hook', () => hookCalls(own).length >= 1);
  assert.equal(hookCalls(own)[0]!.env.GLOBUS_TIMER_JOB_ID, other.job_id);
  await cli(['job', 'delete', job.job_id], env);
  assert.ok(!hookCalls(h.out).some((c) => c.env.GLOBUS_TIMER_JOB_ID === other.job_id), 'not the default as well');
});

test('--notify shows a desktop notification with notify-send', async (t) => {
  const ap = await provider(t, true);
  const { home } = tempHome(t);
  const bin = path.join(home, 'bin');
  fs.mkdirSync(bin);
  const argsFile = path.join(home, 'notify-send.args');
  fs.writeFileSync(path.join(bin, 'notify-send'), `#!/bin/sh\nfor a in "$@"; do echo "$a"; done > ${argsFile}.tmp && mv ${argsFile}.tmp ${argsFile}\n`, {
    mode: 0o700,
  });
  const h = hookHome(t, { DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/bus', DISPLAY: '' });
  const env = { ...h.env, PATH: `${bin}:${h.env.PATH}` };
  const daemon = await startDaemonProcess(t, env);
  const job = await submit(env, ap, '-v backup', '1h', '--notify');
  assert.deepEqual(job.on_failure, { command: null, notify: true });
  const args = await until('notify-send to run', () => fs.existsSync(argsFile) && fs.readFileSync(argsFile, 'utf8').split('\n').slice(0, -1));
  assert.deepEqual(args.slice(0, 4), ['--app-name=globus-timer', '--urgency=critical', '--', '-v backup: run failed']);
  assert.match(args[4]!, /no such path/);
  await until('its log line', () => logged(daemon, /^failure hook ran$/).find((l) => l.hook === 'desktop'));
});

test('flags: bad values exit 2 with one line; update sets, shows and clears a hook', async (t) => {
  const ap = await provider(t, false);
  const h = hookHome(t);
  await startDaemonProcess(t, h.env);
  const base = ['job', 'submit', '--name', 'x', '--interval', '1h', '--action-url', ap.runUrl, '--action-body', '{"body": {}}', '--no-scope'];
  for (const [flags, re] of [
    [['--on-failure', ''], /invalid --on-failure: give a shell command/],
    [['--on-failure', '   '], /invalid --on-failure: give a shell command/],
    [['--on-failure', 'a', '--on-failure', 'b'], /--on-failure was given more than once/],
    [['--on-failure', 'x'.repeat(5000)], /invalid --on-failure: 5000 characters, at most 4096/],
  ] as const) {
    const r = await runCliProcess([...base, ...flags], h.env);
    assert.equal(r.code, 2, `${flags.join(' ').slice(0, 40)}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, re);
  }
  const list = JSON.parse(await cli(['job', 'list', '--format', 'json'], h.env)) as unknown[];
  assert.equal(list.length, 0, 'nothing was submitted');

  const job = JSON.parse(await cli([...base, '--format', 'json'], h.env)) as JobDocument;
  assert.equal(job.on_failure, undefined);
  const bad = await runCliProcess(['job', 'update', job.job_id, '--on-failure', ''], h.env);
  assert.equal(bad.code, 2, bad.stderr);
  assert.equal(bad.stderr.trimEnd().split('\n').length, 1);

  await cli(['job', 'update', job.job_id, '--on-failure', 'echo "$GLOBUS_TIMER_JOB_NAME" failed'], h.env);
  assert.match(await cli(['job', 'status', job.job_id], h.env), /^On Failure: +echo "\$GLOBUS_TIMER_JOB_NAME" failed$/m);
  await cli(['job', 'update', job.job_id, '--notify'], h.env);
  assert.match(await cli(['job', 'status', job.job_id], h.env), /^On Failure: +echo "\$GLOBUS_TIMER_JOB_NAME" failed \(and a desktop notification\)$/m);
  const cleared = JSON.parse(await cli(['job', 'update', job.job_id, '--no-on-failure', '--format', 'json'], h.env)) as { job: JobDocument };
  assert.deepEqual(cleared.job.on_failure, { command: null, notify: true });
  const none = JSON.parse(await cli(['job', 'update', job.job_id, '--no-notify', '--format', 'json'], h.env)) as { job: JobDocument };
  assert.equal(none.job.on_failure, undefined, 'neither left: no hook of its own');
  assert.doesNotMatch(await cli(['job', 'status', job.job_id], h.env), /On Failure/);
});

test('a job made inactive by a refused token is told as INACTIVE; a pause by the user is not', async (t) => {
  const ap = await provider(t, false);
  // Every token refused (401), as when consent was revoked: the run fails ACTION_AUTH and the job waits for the user.
  ap.auth = { scope: 'urn:globus:auth:scope:example.org:all', accepts: () => false };
  const { paths, home } = tempHome(t);
  const out = path.join(home, 'hook.out');
  const script = path.join(home, 'hook.sh');
  fs.writeFileSync(script, HOOK_SCRIPT, { mode: 0o700 });
  const daemon = await startDaemon({
    paths,
    config: testConfig(),
    log: silentLogger(),
    tokenRules: TEST_TOKEN_RULES,
    onFailureDefault: { command: `${script} ${out}`, notify: false },
  });
  t.after(() => daemon.stop());
  const params = { name: 'needs consent', interval_seconds: 3600, callback_url: ap.runUrl, callback_body: { body: {} } };
  const paused = daemon.service.submit(params);
  daemon.service.pause({ job_id: paused.job_id });
  const job = daemon.service.submit({ ...params, scope: 'urn:globus:auth:scope:example.org:all' });
  await until('the job to go inactive', () => daemon.service.get(job.job_id).status === 'inactive');
  await until('the hook', () => hookCalls(out).length >= 1);
  await new Promise((r) => setTimeout(r, 200));
  const calls = hookCalls(out);
  assert.equal(calls.length, 1, 'told once: the failed run and the inactive job are one streak; the pause is not told');
  assert.equal(calls[0]!.env.GLOBUS_TIMER_JOB_ID, job.job_id);
  assert.equal(calls[0]!.env.GLOBUS_TIMER_RUN_STATUS, 'INACTIVE');
  assert.match(calls[0]!.env.GLOBUS_TIMER_ERROR!, /^globus_auth_requirements: /);
});

test('runHook: a hook that cannot start is an outcome, its output is capped, and a quick one ends at once', async () => {
  const base = { env: { PATH: process.env.PATH }, cwd: os.tmpdir(), timeoutMs: 5_000, killGraceMs: 1_000 };
  const missing = await runHook({ ...base, file: '/nonexistent/notify-send', args: [] }).done;
  assert.equal(missing.startError, 'ENOENT');
  assert.equal(missing.exitCode, null);
  const noHome = await runHook({ ...base, cwd: '/nonexistent/home', file: '/bin/sh', args: ['-c', 'true'] }).done;
  assert.equal(noHome.startError, 'ENOENT', 'a home directory that is gone');
  const loud = await runHook({ ...base, file: '/bin/sh', args: ['-c', 'head -c 20000 /dev/zero | tr "\\0" x; echo oops >&2; exit 3'] }).done;
  assert.equal(loud.exitCode, 3);
  assert.equal(loud.stdout.length, HOOK_OUTPUT_CAP_BYTES);
  assert.equal(loud.droppedBytes, 20_000 - HOOK_OUTPUT_CAP_BYTES);
  assert.equal(loud.stderr, 'oops');
  assert.ok(loud.durationMs < 2_000, `${loud.durationMs} ms`);
  // One that ignores SIGTERM is killed after the grace.
  const stubborn = await runHook({
    ...base,
    timeoutMs: 200,
    killGraceMs: 300,
    file: '/bin/sh',
    args: ['-c', 'trap "" TERM; echo ready; while :; do sleep 0.05; done'],
  }).done;
  assert.equal(stubborn.timedOut, true);
  assert.equal(stubborn.signal, 'SIGKILL');
  assert.ok(stubborn.durationMs >= 500 && stubborn.durationMs < 3_000, `${stubborn.durationMs} ms`);
});

test('desktop notifications: notify-send with a session, osascript on macOS, none without a desktop', () => {
  assert.equal(desktopNotification('t', 'b', 'critical', { PATH: '/bin' }, 'linux'), null, 'no bus, no display');
  assert.deepEqual(desktopNotification('t', '-b', 'normal', { WAYLAND_DISPLAY: 'wayland-0' }, 'linux'), {
    file: 'notify-send',
    args: ['--app-name=globus-timer', '--urgency=normal', '--', 't', '-b'],
    env: {},
  });
  // The body is markup to a notification server: a provider's text is shown, never a link.
  const hostile = desktopNotification('t', 'see <a href="https://evil.example">this</a> & <b>act</b>', 'critical', { DISPLAY: ':0' }, 'linux')!;
  assert.equal(hostile.args.at(-1), 'see &lt;a href="https://evil.example"&gt;this&lt;/a&gt; &amp; &lt;b&gt;act&lt;/b&gt;');
  const mac = desktopNotification('a "quoted" title', 'body', 'critical', {}, 'darwin')!;
  assert.equal(mac.file, 'osascript');
  assert.deepEqual(mac.args.slice(-2), ['a "quoted" title', 'body'], 'text as arguments, never inside the script');
});

test('the daemon-wide default from the environment: a command, a notification, or none; a bad value is refused', () => {
  assert.equal(onFailureDefaultFromEnv({}), null);
  assert.equal(onFailureDefaultFromEnv({ GLOBUS_TIMER_ON_FAILURE: '', GLOBUS_TIMER_ON_FAILURE_NOTIFY: '0' }), null);
  assert.deepEqual(onFailureDefaultFromEnv({ GLOBUS_TIMER_ON_FAILURE: 'mail me' }), { command: 'mail me', notify: false });
  assert.deepEqual(onFailureDefaultFromEnv({ GLOBUS_TIMER_ON_FAILURE_NOTIFY: 'yes' }), { command: null, notify: true });
  assert.throws(() => onFailureDefaultFromEnv({ GLOBUS_TIMER_ON_FAILURE_NOTIFY: 'maybe' }), /invalid GLOBUS_TIMER_ON_FAILURE_NOTIFY=maybe: give 1/);
  assert.throws(() => onFailureDefaultFromEnv({ GLOBUS_TIMER_ON_FAILURE: '  ' }), /invalid GLOBUS_TIMER_ON_FAILURE: give a shell command/);
  assert.equal(resolveConfig({ GLOBUS_TIMER_ON_FAILURE_TIMEOUT_MS: '1000' }).onFailureTimeoutMs, 1000);
  assert.equal(resolveConfig({}).onFailureTimeoutMs, 60_000);
});

test('a daemon without hooks does not listen to the event hub; one job with a hook makes it listen, until it is deleted', async (t) => {
  const ap = await provider(t, false);
  const { paths } = tempHome(t);
  const daemon = await startDaemon({ paths, config: testConfig(), log: silentLogger(), tokenRules: TEST_TOKEN_RULES, onFailureDefault: null });
  t.after(() => daemon.stop());
  const params = { name: 'plain', interval_seconds: 3600, callback_url: ap.runUrl, callback_body: { body: {} } };
  daemon.service.submit(params);
  assert.equal(daemon.events.listened, false, 'no hook anywhere: the hub notes and reads nothing');
  const hooked = daemon.service.submit({ ...params, on_failure: { command: 'true' } });
  assert.equal(daemon.events.listened, true);
  daemon.service.update({ job_id: hooked.job_id, on_failure: null });
  assert.equal(daemon.events.listened, false, 'its hook removed');
  daemon.service.update({ job_id: hooked.job_id, on_failure: { notify: true } });
  assert.equal(daemon.events.listened, true);
  daemon.service.delete(hooked.job_id);
  assert.equal(daemon.events.listened, false, 'deleted');
});

test('stopping the daemon stops a hook that is running, without waiting for its time limit', async (t) => {
  const ap = await provider(t, true);
  const { paths, home } = tempHome(t);
  const pidFile = path.join(home, 'hook.pid');
  const daemon = await startDaemon({
    paths,
    config: testConfig({ onFailureTimeoutMs: 60_000 }),
    log: silentLogger(),
    tokenRules: TEST_TOKEN_RULES,
    onFailureDefault: { command: `echo $$ > ${pidFile}; exec sleep 60`, notify: false },
  });
  daemon.service.submit({ name: 'fails', interval_seconds: 3600, callback_url: ap.runUrl, callback_body: { body: {} } });
  const pid = await until('the hook to run', () => fs.existsSync(pidFile) && Number(fs.readFileSync(pidFile, 'utf8')));
  assert.equal(running(pid), true);
  const started = Date.now();
  await daemon.stop();
  assert.ok(Date.now() - started < 5_000, `stopped in ${Date.now() - started} ms`);
  assert.equal(running(pid), false, 'the hook was stopped with the daemon');
});

test('a failure committed but never told (the daemon stopped before its event) is told at the next start, once', async (t) => {
  const ap = await provider(t, true);
  const h = hookHome(t);
  let daemon = await startDaemonProcess(t, h.env);
  const job = await submit(h.env, ap, 'told late', '1h', '--on-failure', h.command);
  await cli(['job', 'run', job.job_id], h.env);
  await until('the hook', () => hookCalls(h.out).length >= 1);
  assert.equal(await daemon.stop(), 0);
  // As if the daemon had stopped between the failed run's commit and its event: nothing told, nothing marked.
  fs.rmSync(h.out);
  const db = new Database(resolvePaths(h.env).dbFile);
  db.prepare('UPDATE jobs SET failure_notified = 0 WHERE id = ?').run(job.job_id);
  db.close();
  daemon = await startDaemonProcess(t, h.env);
  const [call] = await until('the untold failure', () => hookCalls(h.out).length >= 1 && hookCalls(h.out));
  assert.equal(call!.env.GLOBUS_TIMER_JOB_ID, job.job_id);
  assert.equal(call!.env.GLOBUS_TIMER_RUN_STATUS, 'FAILED');
  assert.match(call!.env.GLOBUS_TIMER_ERROR ?? '', /no such path/);
  // Told once: a second restart finds it marked.
  assert.equal(await daemon.stop(), 0);
  daemon = await startDaemonProcess(t, h.env);
  await cli(['job', 'status', job.job_id], h.env);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(hookCalls(h.out).length, 1);
});
