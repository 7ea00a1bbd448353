/**
 * Issue 13 item 5: the daemon starts and stops as one stack, and a setting it cannot run with
 * is refused before anything starts.
 *
 * - `daemon run` with a bad GLOBUS_TIMER_LOG_LEVEL or a config key out of its range: one line
 *   naming the variable and the values it may take, exit 1, nothing opened (the real CLI, from
 *   src/ through tsx, as a subprocess).
 * - Every config key has its own rule, checked the same way from the environment and from
 *   explicit options.
 * - A start that fails midway undoes what it had started: the lock, the socket, the database
 *   (its WAL file goes with the last connection), the scheduler's timer; a second start works.
 * - The undo stack itself: newest first, past failures, once.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test, { type TestContext } from 'node:test';
import { DEFAULT_CONFIG, resolveConfig, type ResolvedConfig } from '../src/config/config.ts';
import { ERROR_CODES, TimerError } from '../src/core/errors.ts';
import { startDaemon } from '../src/daemon/daemon.ts';
import { logLevelFromEnv, silentLogger, type Logger } from '../src/log/logger.ts';
import { UndoStack } from '../src/util/undo-stack.ts';
import { FakeClock } from './support/clock.ts';
import { ROOT, TEST_TOKEN_RULES, tempHome, testConfig, type CliResult } from './support/env.ts';

/** `globus-timer daemon run` from the sources (tsx), so the test needs no build. */
function daemonRun(env: NodeJS.ProcessEnv, ...extra: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), 'daemon', 'run', ...extra], {
      env,
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    proc.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    // A daemon that did start would listen until stopped: give up on it rather than hang.
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    proc.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** One refused setting: exit 1, the one line on stderr, nothing on stdout, and no state made. */
async function assertRefused(t: TestContext, setting: Record<string, string>, line: RegExp): Promise<void> {
  const { env, paths } = tempHome(t); // log level debug: nothing else may reach stderr even so
  const r = await daemonRun({ ...env, ...setting });
  const what = JSON.stringify(setting);
  assert.equal(r.code, 1, `${what}: exit ${r.code}, stderr ${r.stderr}`);
  assert.equal(r.stdout, '', what);
  assert.match(r.stderr, line, what);
  assert.equal(r.stderr.split('\n').length, 2, `${what}: one line: ${JSON.stringify(r.stderr)}`);
  assert.equal(fs.existsSync(paths.dbFile), false, `${what}: the daemon did not run`);
  assert.equal(fs.existsSync(paths.lockFile), false, what);
}

test('GLOBUS_TIMER_LOG_LEVEL=loud: one line naming the variable and the levels, exit 1; as JSON the code is CONFIG_INVALID', async (t) => {
  await assertRefused(
    t,
    { GLOBUS_TIMER_LOG_LEVEL: 'loud' },
    /^globus-timer: invalid GLOBUS_TIMER_LOG_LEVEL=loud: give one of silent, fatal, error, warn, info, debug, trace \(default info\), or unset it\n$/,
  );
  const { env } = tempHome(t);
  const r = await daemonRun({ ...env, GLOBUS_TIMER_LOG_LEVEL: 'loud' }, '--format', 'json');
  assert.equal(r.code, 1);
  assert.deepEqual(JSON.parse(r.stdout), {
    error: {
      code: 'CONFIG_INVALID',
      message: 'invalid GLOBUS_TIMER_LOG_LEVEL=loud: give one of silent, fatal, error, warn, info, debug, trace (default info), or unset it',
    },
  });
});

test('GLOBUS_TIMER_FIRE_BATCH_SIZE=0 and GLOBUS_TIMER_MAX_TIMER_DELAY_MS=0 are refused naming the key and its values, exit 1, not run', async (t) => {
  await assertRefused(
    t,
    { GLOBUS_TIMER_FIRE_BATCH_SIZE: '0' },
    /^globus-timer: invalid GLOBUS_TIMER_FIRE_BATCH_SIZE=0: give a whole number of jobs, 1 or more \(default 500\), or unset it\n$/,
  );
  await assertRefused(
    t,
    { GLOBUS_TIMER_MAX_TIMER_DELAY_MS: '0' },
    /^globus-timer: invalid GLOBUS_TIMER_MAX_TIMER_DELAY_MS=0: give a whole number of milliseconds from 1 to 2147483647 \(default 30000\), or unset it\n$/,
  );
  // A refused key is refused whatever the other keys hold.
  await assertRefused(
    t,
    { GLOBUS_TIMER_RETENTION_DAYS: '30', GLOBUS_TIMER_POLL_MAX_MS: '1.5' },
    /^globus-timer: invalid GLOBUS_TIMER_POLL_MAX_MS=1\.5: give a whole number of milliseconds/,
  );
});

/** `fireBatchSize` → `GLOBUS_TIMER_FIRE_BATCH_SIZE`, as the README says. */
function envName(key: string): string {
  return 'GLOBUS_TIMER_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

test('every config key is checked on its own: a non-number, a negative, a fraction or one past its range names that key', () => {
  const keys = Object.keys(DEFAULT_CONFIG) as (keyof ResolvedConfig)[];
  assert.equal(keys.length, 20);
  for (const key of keys) {
    const name = envName(key);
    assert.equal(resolveConfig({ [name]: String(DEFAULT_CONFIG[key]) })[key], DEFAULT_CONFIG[key], `${name}: its default is allowed`);
    assert.equal(resolveConfig({ [name]: '' })[key], DEFAULT_CONFIG[key], `${name}: empty is unset`);
    // Days may be fractions (below); every other key is a whole number.
    const days = key.endsWith('Days');
    for (const bad of ['abc', '-1', ...(days ? [] : ['2.5']), '1e300']) {
      assert.throws(
        () => resolveConfig({ [name]: bad }),
        (e: unknown) =>
          e instanceof TimerError &&
          e.code === ERROR_CODES.INVALID_INPUT &&
          e.message.startsWith(`invalid ${name}=${bad}: give ${days ? 'a number of days' : 'a whole number of '}`),
        `${name}=${bad}`,
      );
    }
  }
  // 0 breaks some (a scheduler that claims nothing, a timer that spins, requests that cannot
  // succeed) and means something for others (no lead, no grace, no retries).
  const zeroRefused = keys.filter((key) => {
    try {
      resolveConfig({ [envName(key)]: '0' });
      return false;
    } catch {
      return true;
    }
  });
  assert.deepEqual(zeroRefused.sort(), [
    'actionTimeoutMs',
    'fireBatchSize',
    'fullRunsPerJob',
    'maxConnectionsPerOrigin',
    'maxResponseBytes',
    'maxTimerDelayMs',
    'onFailureTimeoutMs',
    'pollInitialMs',
    'pollMaxMs',
    'retryInitialMs',
    'retryMaxMs',
    'runLifetimeDays',
  ]);
  // A delay past setTimeout's range would fire at once.
  assert.throws(
    () => resolveConfig({ GLOBUS_TIMER_POLL_MAX_MS: '2147483648' }),
    /GLOBUS_TIMER_POLL_MAX_MS=2147483648: give a whole number of milliseconds from 1 to 2147483647/,
  );
  assert.equal(resolveConfig({ GLOBUS_TIMER_POLL_MAX_MS: '2147483647' }).pollMaxMs, 2_147_483_647);
  assert.equal(resolveConfig({ GLOBUS_TIMER_MISFIRE_GRACE_MS: '1e3' }).misfireGraceMs, 1_000, 'a whole number however written');
  // Days may be fractions, as they always could: half a day is 12 hours.
  assert.equal(resolveConfig({ GLOBUS_TIMER_RETENTION_DAYS: '0.5' }).retentionDays, 0.5);
  assert.equal(resolveConfig({ GLOBUS_TIMER_RUN_LIFETIME_DAYS: '0.5' }).runLifetimeDays, 0.5);
  // Blanks are no number (Number(' ') is 0): refused, not run as 0.
  assert.throws(() => resolveConfig({ GLOBUS_TIMER_MISFIRE_GRACE_MS: ' ' }), /GLOBUS_TIMER_MISFIRE_GRACE_MS= : give a whole number of milliseconds/);
});

test('explicit options go through the same rules as the environment, and win over it', () => {
  assert.equal(resolveConfig({ GLOBUS_TIMER_FIRE_BATCH_SIZE: '7' }, { fireBatchSize: 9 }).fireBatchSize, 9);
  assert.throws(
    () => resolveConfig({}, { fireBatchSize: 0 }),
    (e: unknown) =>
      e instanceof TimerError &&
      e.code === ERROR_CODES.INVALID_INPUT &&
      e.message === 'invalid config fireBatchSize: 0: give a whole number of jobs, 1 or more (default 500)',
  );
  assert.throws(() => resolveConfig({}, { maxTimerDelayMs: 0 }), /maxTimerDelayMs/);
});

test('GLOBUS_TIMER_LOG_LEVEL: pino levels and silent; unset or empty is info; anything else names the variable', () => {
  for (const level of ['silent', 'fatal', 'error', 'warn', 'info', 'debug', 'trace']) assert.equal(logLevelFromEnv({ GLOBUS_TIMER_LOG_LEVEL: level }), level);
  assert.equal(logLevelFromEnv({}), 'info');
  assert.equal(logLevelFromEnv({ GLOBUS_TIMER_LOG_LEVEL: '' }), 'info');
  for (const bad of ['loud', 'INFO', 'info ', '30']) {
    assert.throws(
      () => logLevelFromEnv({ GLOBUS_TIMER_LOG_LEVEL: bad }),
      (e: unknown) => e instanceof TimerError && e.message.startsWith(`invalid GLOBUS_TIMER_LOG_LEVEL=${bad}: give one of`),
    );
  }
});

/** A silent logger whose child for `component` cannot be made: a start that fails at that step. */
function failingAt(component: string): Logger {
  const log = silentLogger();
  const child = log.child.bind(log);
  log.child = ((bindings: Record<string, unknown>, options?: object) => {
    if (bindings.component === component) throw new Error(`injected failure starting ${component}`);
    return child(bindings, options);
  }) as Logger['child'];
  return log;
}

test('a start that fails midway undoes what it started: no lock, socket, open database or armed timer is left, and a second start works', async (t) => {
  const { paths } = tempHome(t);
  const clock = new FakeClock(Date.parse('2026-03-02T08:00:00Z'));
  const opts = { paths, config: testConfig(), clock, tokenRules: TEST_TOKEN_RULES };
  // The retention is the last thing started: the socket listens and the runner is up by then.
  await assert.rejects(startDaemon({ ...opts, log: failingAt('retention') }), /injected failure starting retention/);
  assert.equal(fs.existsSync(paths.lockFile), false, 'the lock is released');
  assert.equal(fs.existsSync(paths.socketPath), false, 'the socket is closed and removed');
  assert.equal(fs.existsSync(`${paths.dbFile}-wal`), false, 'the database is closed (its WAL goes with the last connection)');
  assert.equal(clock.pendingTimers, 0, 'no timer armed: the scheduler and the retention are stopped');

  const daemon = await startDaemon({ ...opts, log: silentLogger() });
  assert.equal(fs.existsSync(paths.lockFile), true);
  assert.equal(fs.existsSync(paths.socketPath), true);
  await daemon.stop();
  assert.equal(await daemon.stopped, true, 'stopped cleanly');
  assert.equal(fs.existsSync(paths.lockFile), false);
  assert.equal(fs.existsSync(paths.socketPath), false);
  assert.equal(fs.existsSync(`${paths.dbFile}-wal`), false);
  assert.equal(clock.pendingTimers, 0);
});

test('a socket path it cannot listen on fails the start after the database was opened, and undoes it', async (t) => {
  const { home, paths } = tempHome(t);
  const blocker = path.join(home, 'not-a-directory');
  fs.writeFileSync(blocker, '');
  const opts = { config: testConfig(), log: silentLogger(), tokenRules: TEST_TOKEN_RULES };
  await assert.rejects(startDaemon({ ...opts, paths: { ...paths, socketPath: path.join(blocker, 'daemon.sock') } }));
  assert.equal(fs.existsSync(paths.dbFile), true, 'it got as far as the database');
  assert.equal(fs.existsSync(`${paths.dbFile}-wal`), false, 'which is closed');
  assert.equal(fs.existsSync(paths.lockFile), false, 'and the lock released');
  const daemon = await startDaemon({ ...opts, paths });
  t.after(() => daemon.stop());
  assert.equal(fs.existsSync(paths.socketPath), true);
});

test('the undo stack: newest first, each awaited, past failures (the first is thrown), and only once', async () => {
  const stack = new UndoStack();
  const done: string[] = [];
  stack.defer('lock', () => done.push('lock'));
  stack.defer('db', async () => {
    await new Promise((resolve) => setImmediate(resolve));
    done.push('db');
  });
  stack.defer('broken', () => {
    throw new Error('first');
  });
  stack.defer('also broken', () => Promise.reject(new Error('second')));
  stack.defer('socket', () => done.push('socket'));
  const failed: string[] = [];
  const unwinding = stack.unwind((err, what) => failed.push(`${what}: ${(err as Error).message}`));
  assert.equal(stack.unwind(), unwinding, 'a second call is the first one');
  await assert.rejects(unwinding, /^Error: second$/);
  assert.deepEqual(done, ['socket', 'db', 'lock']);
  assert.deepEqual(failed, ['also broken: second', 'broken: first']);
  assert.throws(() => stack.defer('late', () => {}), /cannot add late: already unwound/);
});
