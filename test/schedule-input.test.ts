/**
 * Issue 12 items 3, 8, 10, 11 and 12, each through the real CLI as a subprocess (and the
 * real daemon process where it is involved), exit codes and messages exact, plus the pure
 * rules underneath with fixed clocks:
 * - 3: a stop date at or before now, or before the start, is refused (CLI and daemon).
 * - 8: the action body's values are checked by the Action Provider run request schema.
 * - 10: a calendar job stores its zone at submit; `--start` without an offset is read in --timezone.
 * - 11: `--tz` / GLOBUS_TIMER_TZ for text output; `--start 02:00` is the next 02:00.
 * - 12: the legacy Transfer provider's URL and body go to the current provider; known scopes without network.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { currentTransferParams, LEGACY_TRANSFER_SCOPE } from '../src/core/transfer.ts';
import { flowScope, knownScope } from '../src/actions/known-scopes.ts';
import { TRANSFER_SCOPE } from '../src/core/scopes.ts';
import { resolvePaths } from '../src/config/paths.ts';
import { ERROR_CODES, TimerError } from '../src/core/errors.ts';
import { checkActionBody, checkStopAfterDate } from '../src/core/input.ts';
import { formatIsoInZone, parseDateTime, parseScheduleTime } from '../src/core/time.ts';
import { RpcClient } from '../src/contract/client.ts';
import type { JobDocument, SubmitJobParams } from '../src/contract/protocol.ts';
import { startFakeAuth } from './support/auth.ts';
import { runCliProcess, startDaemonProcess, tempHome, type CliResult } from './support/env.ts';
import { startFakeProvider } from './support/provider.ts';

const at = (iso: string) => Date.parse(iso);
const ISO_UTC = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{3})?\+00:00`;

function assertInvalid(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TimerError, `expected a TimerError, got ${String(err)}`);
    assert.equal(err.code, ERROR_CODES.INVALID_INPUT);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

/** A usage error of the real CLI: exit 2, nothing on stdout, exactly this one line on stderr. */
function assertUsage(r: CliResult, line: string | RegExp, what: string): void {
  assert.equal(r.code, 2, `${what}: exit ${r.code}, stderr ${r.stderr}`);
  assert.equal(r.stdout, '', what);
  if (typeof line === 'string') assert.equal(r.stderr, `${line}\n`, what);
  else assert.match(r.stderr, line, what);
}

function json<T>(r: CliResult): T {
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as T;
}

/** A CLI environment in a fresh home, in `tz`; the daemon is started by the test, never autostarted. */
function cliEnv(t: TestContext, tz = 'UTC'): NodeJS.ProcessEnv {
  const { env } = tempHome(t);
  return { ...env, TZ: tz, GLOBUS_TIMER_NO_AUTOSTART: '1' };
}

const NO_TOKEN_URL = 'http://127.0.0.1:9/run';
/** `job submit` flags for a job that takes no token and never runs during the test (its start is far off). */
function submitArgs(name: string, ...extra: string[]): string[] {
  return ['job', 'submit', '--name', name, '--action-url', NO_TOKEN_URL, '--no-scope', '--action-body', '{"body": {}}', ...extra];
}

async function rpc(t: TestContext, env: NodeJS.ProcessEnv): Promise<RpcClient> {
  const client = await RpcClient.connect(resolvePaths(env).socketPath);
  t.after(() => client.close());
  return client;
}

async function assertRpcInvalid(call: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(call, (e: Error & { code?: string }) => {
    assert.equal(e.code, ERROR_CODES.INVALID_INPUT, e.message);
    assert.match(e.message, message);
    return true;
  });
}

// --- item 3: a stop condition that leaves no run --------------------------------------------

test('checkStopAfterDate: after now, after the start, not before the first slot; both times named', () => {
  const now = at('2026-12-07T11:00:00Z');
  const rule = (stop: string, start: string | null, first: string | null = null) =>
    checkStopAfterDate('--stop-after-date', at(stop), {
      nowMs: now,
      startAtMs: start === null ? null : at(start),
      firstSlotAtMs: first === null ? null : at(first),
    });
  assert.equal(rule('2026-12-07T11:00:01Z', null), at('2026-12-07T11:00:01Z'));
  assertInvalid(
    () => rule('2020-01-01T00:00:00Z', null),
    'invalid --stop-after-date 2020-01-01T00:00:00+00:00: it is not after now (2026-12-07T11:00:00+00:00), so the job would never run',
  );
  assertInvalid(() => rule('2026-12-07T11:00:00Z', null), /it is not after now/);
  assertInvalid(
    () => rule('2099-05-01T00:00:00Z', '2099-06-01T00:00:00Z'),
    'invalid --stop-after-date 2099-05-01T00:00:00+00:00: it is not after the start (2099-06-01T00:00:00+00:00), so the job would never run',
  );
  assertInvalid(() => rule('2099-06-01T00:00:00Z', '2099-06-01T00:00:00Z'), /not after the start/);
  // The daemon's extra rule: a slot at the stop date still runs, one before it never does.
  assert.equal(rule('2026-12-08T00:00:00Z', null, '2026-12-08T00:00:00Z'), at('2026-12-08T00:00:00Z'));
  assertInvalid(
    () => rule('2026-12-07T12:00:00Z', '2026-12-01T00:00:00Z', '2026-12-08T00:00:00Z'),
    "invalid --stop-after-date 2026-12-07T12:00:00+00:00: it is before the job's first slot (2026-12-08T00:00:00+00:00), so the job would never run",
  );
});

test('item 3: job submit and job update refuse a stop date that leaves no run (exit 2, why), the daemon too', async (t) => {
  const env = cliEnv(t);
  await startDaemonProcess(t, env);
  const before = Date.now();
  const past = await runCliProcess(submitArgs('past', '--interval', '1d', '--stop-after-date', '2020-01-01'), env);
  const nowText = new RegExp(
    `^globus-timer: invalid --stop-after-date 2020-01-01T00:00:00\\+00:00: it is not after now \\((${ISO_UTC})\\), so the job would never run\\n$`,
  );
  assertUsage(past, nowText, '--stop-after-date in the past');
  const shownNow = at(nowText.exec(past.stderr)![1]!);
  assert.ok(shownNow >= before && shownNow <= Date.now(), 'now is the time of the check');

  const beforeStart = await runCliProcess(
    submitArgs('early', '--interval', '1d', '--start', '2099-06-01T00:00:00Z', '--stop-after-date', '2099-05-01T00:00:00Z'),
    env,
  );
  assertUsage(
    beforeStart,
    'globus-timer: invalid --stop-after-date 2099-05-01T00:00:00+00:00: it is not after the start (2099-06-01T00:00:00+00:00), so the job would never run',
    'stop before --start',
  );
  // Only the daemon knows the first slot: every 30 days from 10 days ago, so none before tomorrow.
  const start = new Date(Date.now() - 10 * 86_400_000).toISOString();
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString();
  const noSlot = await runCliProcess(submitArgs('no-slot', '--interval', '30d', '--start', start, '--stop-after-date', tomorrow), env);
  assertUsage(
    noSlot,
    /^globus-timer: invalid stop-after date \S+: it is before the job's first slot \(\S+\), so the job would never run\n$/,
    'no slot before the stop date',
  );

  const ok = json<JobDocument>(
    await runCliProcess(
      submitArgs('kept', '--interval', '1d', '--start', '2099-04-01T00:00:00Z', '--stop-after-date', '2099-05-01T00:00:00Z', '--format', 'json'),
      env,
    ),
  );
  const update = (...flags: string[]) => runCliProcess(['job', 'update', ok.job_id, ...flags], env);
  assertUsage(await update('--stop-after-date', '2020-01-01'), nowText, 'update: a past stop date');
  assertUsage(
    await update('--start', '2099-06-01T00:00:00Z', '--stop-after-date', '2099-05-15T00:00:00Z'),
    'globus-timer: invalid --stop-after-date 2099-05-15T00:00:00+00:00: it is not after the start (2099-06-01T00:00:00+00:00), so the job would never run',
    'update: stop before the new start',
  );
  // A new start after the stop date the job keeps: only the daemon knows that date.
  assertUsage(
    await update('--start', '2099-06-01T00:00:00Z'),
    'globus-timer: invalid stop-after date 2099-05-01T00:00:00+00:00: it is not after the start (2099-06-01T00:00:00+00:00), so the job would never run',
    'update: start after the kept stop date',
  );

  // A client that skips the CLI gets the same answer from the daemon, and nothing changes.
  const client = await rpc(t, env);
  const params: SubmitJobParams = { name: 'rpc', interval_seconds: 60, callback_url: NO_TOKEN_URL, callback_body: { body: {} }, scope: null };
  await assertRpcInvalid(
    client.call('job.submit', { ...params, stop_after: { date: '2020-01-01T00:00:00Z' } }),
    /^invalid stop-after date 2020-01-01T00:00:00\+00:00: it is not after now/,
  );
  await assertRpcInvalid(
    client.call('job.update', { job_id: ok.job_id, stop_after: { date: '2099-03-01T00:00:00Z' } }),
    /^invalid stop-after date 2099-03-01T00:00:00\+00:00: it is not after the start \(2099-04-01T00:00:00\+00:00\)/,
  );
  assert.deepEqual((await client.call('job.get', { job_id: ok.job_id })).stop_after, { date: '2099-05-01T00:00:00+00:00', n_runs: null });
  assert.deepEqual(
    (await client.call('job.list', {})).jobs.map((j) => j.name),
    ['kept'],
  );
});

// --- item 8: the action body's values ----------------------------------------------------------

interface Vector {
  doc_type: string;
  expect_valid: boolean;
  payload: Record<string, unknown>;
}
const VECTORS = (JSON.parse(fs.readFileSync(new URL('./fixtures/validation_vectors.json', import.meta.url), 'utf8')) as { vectors: Vector[] }).vectors;
/** The recorded valid run request, as an action body: what the daemon sends, without its request_id. */
const VALID_REQUEST = (() => {
  const vector = VECTORS.find((v) => v.doc_type === 'ActionRequest' && v.expect_valid)!;
  const { request_id: _, ...body } = vector.payload;
  return body;
})();
const IDENTITY = 'urn:globus:auth:identity:ca73e829-715f-4522-9dec-a507fe57a661';

/** Each key of the recorded valid request broken in one way, and the one line that says so. */
const BAD_BODIES: [Record<string, unknown>, string][] = [
  [{ label: 'x'.repeat(80) }, '"label" must be 1 to 64 characters (got 80)'],
  [{ label: '' }, '"label" must be 1 to 64 characters (got 0)'],
  [{ label: 7 }, '"label" must be a string (got 7)'],
  [{ deadline: 'tomorrow' }, '"deadline" must be a date-time with an offset, such as 2026-12-01T02:00:00Z (got "tomorrow")'],
  [{ deadline: '2026-12-01T02:00:00' }, '"deadline" must be a date-time with an offset, such as 2026-12-01T02:00:00Z (got "2026-12-01T02:00:00")'],
  [{ deadline: '2026-02-30T02:00:00Z' }, '"deadline" must be a date-time with an offset, such as 2026-12-01T02:00:00Z (got "2026-02-30T02:00:00Z")'],
  [{ release_after: '30 days' }, '"release_after" must be an ISO 8601 duration such as P30D or PT12H (got "30 days")'],
  [{ release_after: 'P' }, '"release_after" must be an ISO 8601 duration such as P30D or PT12H (got "P")'],
  [{ release_after: 30 }, '"release_after" must be a string (an ISO 8601 duration such as P30D or PT12H) (got 30)'],
  [{ monitor_by: IDENTITY }, `"monitor_by" must be an array of strings (got "${IDENTITY}")`],
  [{ monitor_by: ['bob'] }, '"monitor_by"[0] must be a principal URN, urn:globus:auth:identity:<uuid> or urn:globus:groups:id:<uuid> (got "bob")'],
  [{ manage_by: [IDENTITY, 42] }, '"manage_by"[1] must be a string (a principal URN, urn:globus:auth:identity:<uuid> or urn:globus:groups:id:<uuid>) (got 42)'],
  [{ manage_by: [IDENTITY, IDENTITY] }, '"manage_by" lists the same entry twice (items 0 and 1)'],
  [{ allowed_clients: ['everyone'] }, '"allowed_clients"[0] must be public, globus, creator or a single character (got "everyone")'],
];

test('checkActionBody: the recorded valid request passes; each key broken is refused in one line naming it and the rule', () => {
  assert.deepEqual(checkActionBody(structuredClone(VALID_REQUEST)), VALID_REQUEST);
  for (const [change, why] of BAD_BODIES) {
    assertInvalid(() => checkActionBody({ ...structuredClone(VALID_REQUEST), ...change }), `invalid action body: ${why}`);
  }
  // Real bodies with other valid values still pass: groups, durations with time parts, any offset.
  checkActionBody({
    body: {},
    monitor_by: ['urn:globus:groups:id:ae2a1750-d274-11e5-b867-e74762c29f57'],
    release_after: 'PT12H',
    deadline: '2027-01-01T00:00:00-08:00',
    label: 'x'.repeat(64),
  });
});

test('item 8: job submit (--action-body, --action-file) and job update refuse a bad body value (exit 2), the daemon too', async (t) => {
  const env = cliEnv(t);
  await startDaemonProcess(t, env);
  const body = (change: Record<string, unknown>) => JSON.stringify({ body: { a: 1 }, ...change });
  const base = ['job', 'submit', '--name', 'b', '--interval', '1d', '--start', '2099-01-01T00:00:00Z', '--action-url', NO_TOKEN_URL, '--no-scope'];
  const file = `${env.GLOBUS_TIMER_HOME}/body.json`;
  fs.writeFileSync(file, body({ release_after: '30 days' }));
  const job = json<JobDocument>(await runCliProcess([...base, '--action-body', body({ label: 'nightly' }), '--format', 'json'], env));

  const [label, deadline, fromFile, updated] = await Promise.all([
    runCliProcess([...base, '--action-body', body({ label: 'x'.repeat(80) })], env),
    runCliProcess([...base, '--action-body', body({ deadline: 'next week' })], env),
    runCliProcess([...base, '--action-file', file], env),
    runCliProcess(['job', 'update', job.job_id, '--action-body', body({ monitor_by: ['bob'] })], env),
  ]);
  assertUsage(label, 'globus-timer: invalid action body: "label" must be 1 to 64 characters (got 80)', 'label');
  assertUsage(
    deadline,
    'globus-timer: invalid action body: "deadline" must be a date-time with an offset, such as 2026-12-01T02:00:00Z (got "next week")',
    'deadline',
  );
  assertUsage(
    fromFile,
    'globus-timer: invalid action body: "release_after" must be an ISO 8601 duration such as P30D or PT12H (got "30 days")',
    '--action-file',
  );
  assertUsage(
    updated,
    'globus-timer: invalid action body: "monitor_by"[0] must be a principal URN, urn:globus:auth:identity:<uuid> or urn:globus:groups:id:<uuid> (got "bob")',
    'job update',
  );

  const client = await rpc(t, env);
  await assertRpcInvalid(
    client.call('job.submit', {
      name: 'rpc',
      interval_seconds: 60,
      callback_url: NO_TOKEN_URL,
      callback_body: { body: {}, label: 'y'.repeat(65) },
      scope: null,
    }),
    /^invalid action body: "label" must be 1 to 64 characters \(got 65\)$/,
  );
  await assertRpcInvalid(
    client.call('job.update', { job_id: job.job_id, callback_body: { body: {}, allowed_clients: 'public' } }),
    /^invalid action body: "allowed_clients" must be an array of strings/,
  );
  assert.deepEqual((await client.call('job.get', { job_id: job.job_id })).callback_body, { body: { a: 1 }, label: 'nightly' });
  assert.equal((await client.call('job.list', {})).jobs.length, 1);
});

// --- item 10: a calendar job keeps the zone it was submitted in ----------------------------------

test('parseDateTime with a zone: DST-correct; a time in the gap refused, the repeated hour its first instant', () => {
  assert.equal(parseDateTime('2099-07-01 02:00:00', '--start', 'Europe/Berlin'), at('2099-07-01T00:00:00Z'));
  assert.equal(parseDateTime('2099-01-01 02:00:00', '--start', 'Europe/Berlin'), at('2099-01-01T01:00:00Z'));
  assert.equal(parseDateTime('2099-03-01', '--start', 'Asia/Tokyo'), at('2099-02-28T15:00:00Z'));
  assert.equal(parseDateTime('2026-10-25T02:30:00', '--start', 'Europe/Berlin'), at('2026-10-25T00:30:00Z'), 'the first 02:30 (CEST)');
  assert.equal(parseDateTime('2026-11-01T01:30:00', '--start', 'America/New_York'), at('2026-11-01T05:30:00Z'), 'the first 01:30 (EDT)');
  assertInvalid(
    () => parseDateTime('2099-03-29 02:30:00', '--start', 'Europe/Berlin'),
    'invalid --start "2099-03-29 02:30:00": that Europe/Berlin time does not exist (daylight-saving change); use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS, optionally with an offset like Z or +02:00',
  );
  // An offset wins over the zone.
  assert.equal(parseDateTime('2099-07-01T02:00:00Z', '--start', 'Europe/Berlin'), at('2099-07-01T02:00:00Z'));
});

test("item 10: a calendar job without --timezone keeps the submitting user's zone across daemon restarts under other TZs", async (t) => {
  const env = cliEnv(t, 'America/New_York');
  let daemon = await startDaemonProcess(t, { ...env, TZ: 'Europe/Berlin' });
  const job = json<JobDocument>(await runCliProcess(submitArgs('nightly', '--cron', '0 2 * * *', '--format', 'json'), env));
  assert.equal(job.timezone, 'America/New_York');
  const next = async () => json<{ slots: string[] }>(await runCliProcess(['job', 'next', job.job_id, '-n', '3', '--format', 'json'], env)).slots;
  const slots = await next();
  assert.equal(slots.length, 3);
  for (const slot of slots) assert.match(formatIsoInZone(at(slot), 'America/New_York'), /T02:00:00-0[45]:00$/, '02:00 in New York');

  await daemon.stop();
  daemon = await startDaemonProcess(t, { ...env, TZ: 'Asia/Tokyo' });
  assert.deepEqual(await next(), slots, 'a daemon in another zone fires the same slots');
  const status = await runCliProcess(['job', 'status', job.job_id], env);
  assert.match(status.stdout, /^Schedule: +cron 0 2 \* \* \* \(America\/New_York\)$/m);

  // --start without an offset, with --timezone, is read in that zone (not the CLI's New York).
  const tokyo = json<JobDocument>(
    await runCliProcess(submitArgs('tokyo', '--cron', '0 2 * * *', '--timezone', 'Asia/Tokyo', '--start', '2099-03-01 00:00:00', '--format', 'json'), env),
  );
  assert.equal(tokyo.start, '2099-02-28T15:00:00+00:00');
  assert.equal(tokyo.timezone, 'Asia/Tokyo');
  assertUsage(
    await runCliProcess(submitArgs('gap', '--cron', '30 2 * * *', '--timezone', 'Europe/Berlin', '--start', '2099-03-29 02:30:00'), env),
    'globus-timer: invalid --start "2099-03-29 02:30:00": that Europe/Berlin time does not exist (daylight-saving change); use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS, optionally with an offset like Z or +02:00',
    'a start in the Berlin DST gap',
  );
  // An interval job turned calendar by job update gets the user's zone too; --timezone local names it.
  const hourly = json<JobDocument>(await runCliProcess(submitArgs('hourly', '--interval', '1h', '--start', '2099-01-01T00:00:00Z', '--format', 'json'), env));
  const turned = json<{ job: JobDocument }>(await runCliProcess(['job', 'update', hourly.job_id, '--cron', '0 3 * * *', '--format', 'json'], env));
  assert.equal(turned.job.timezone, 'America/New_York');
  const local = json<{ job: JobDocument }>(
    await runCliProcess(['job', 'update', tokyo.job_id, '--timezone', 'local', '--format', 'json'], { ...env, TZ: 'Australia/Sydney' }),
  );
  assert.equal(local.job.timezone, 'Australia/Sydney');
});

test("item 10: calendar jobs stored without a zone take the daemon's at its next start, and keep it", async (t) => {
  // An older daemon placed the job's slots in its own zone, Tokyo; so does this CLI's here.
  const env = cliEnv(t, 'Asia/Tokyo');
  let daemon = await startDaemonProcess(t, env);
  const job = json<JobDocument>(await runCliProcess(submitArgs('legacy', '--cron', '0 2 * * *', '--format', 'json'), env));
  await daemon.stop();
  // As an older version stored it: no zone, so it followed whatever zone the daemon had.
  const db = new Database(`${env.GLOBUS_TIMER_HOME}/timer.db`);
  db.prepare('UPDATE jobs SET timezone = NULL WHERE id = ?').run(job.job_id);
  db.close();

  daemon = await startDaemonProcess(t, env);
  const adopted = json<JobDocument>(await runCliProcess(['job', 'status', job.job_id, '--format', 'json'], env));
  assert.equal(adopted.timezone, 'Asia/Tokyo');
  assert.ok(
    daemon.logLines().some((l) => l.zone === 'Asia/Tokyo' && l.jobs === 1),
    'the adoption is logged',
  );
  const next = async () => json<{ slots: string[] }>(await runCliProcess(['job', 'next', job.job_id, '--format', 'json'], env)).slots;
  const slots = await next();
  assert.ok(
    slots.every((s) => s.endsWith('T02:00:00+09:00')),
    slots.join(),
  );
  await daemon.stop();
  await startDaemonProcess(t, { ...env, TZ: 'Europe/Berlin' });
  assert.deepEqual(await next(), slots);
});

// --- item 11: times in the user's zone; a time of day alone --------------------------------------

test('parseScheduleTime: HH:MM is the next such time in the zone, never a past one; a DST gap day is skipped', () => {
  const now = at('2026-03-29T00:30:00Z'); // 01:30 CET in Berlin; 02:00-03:00 is skipped tonight
  assert.equal(parseScheduleTime('02:30', '--start', 'Europe/Berlin', now), at('2026-03-30T00:30:00Z'), 'not tonight: 02:30 does not exist');
  assert.equal(parseScheduleTime('03:00', '--start', 'Europe/Berlin', now), at('2026-03-29T01:00:00Z'), 'tonight, 03:00 CEST');
  assert.equal(parseScheduleTime('01:00', '--start', 'Europe/Berlin', now), at('2026-03-29T23:00:00Z'), "today's 01:00 is past: tomorrow's");
  assert.equal(parseScheduleTime('01:30', '--start', 'Europe/Berlin', now), now, 'now itself is not past');
  assert.equal(parseScheduleTime('23:59:59', '--start', 'UTC', now), at('2026-03-29T23:59:59Z'));
  assert.equal(parseScheduleTime('2:05', '--start', 'Asia/Kolkata', now), at('2026-03-29T20:35:00Z'));
  assert.equal(parseScheduleTime('2099-01-01', '--start', 'UTC', now), at('2099-01-01T00:00:00Z'), 'dates as before');
  for (const bad of ['24:00', '12:60', '12:00:60', '1200', '12:0', 'T12:00', '12:00Z']) {
    assertInvalid(() => parseScheduleTime(bad, '--start', 'UTC', now), new RegExp(`^invalid --start "${bad}": `));
  }
});

test('item 11: --tz and GLOBUS_TIMER_TZ show times in a zone with its offset; JSON stays UTC; --start 02:00 is the next 02:00', async (t) => {
  const ap = await startFakeProvider();
  t.after(() => ap.close());
  const env = cliEnv(t, 'Asia/Kolkata');
  await startDaemonProcess(t, env);
  const job = json<JobDocument>(await runCliProcess(submitArgs('shown', '--interval', '1d', '--start', '2099-02-28T15:00:00Z', '--format', 'json'), env));
  const status = (...extra: string[]) => runCliProcess(['job', 'status', job.job_id, ...extra], env);
  const lines = (r: CliResult) =>
    r.stdout
      .split('\n')
      .filter((l) => /^(Start|Next Run At):/.test(l))
      .map((l) => l.replace(/: +/, ': '));

  const [byDefault, local, utc, berlin, asJson, nextTokyo] = await Promise.all([
    status(),
    status('--tz', 'local'),
    status('--tz', 'utc'),
    runCliProcess(['job', 'status', job.job_id], { ...env, GLOBUS_TIMER_TZ: 'Europe/Berlin' }),
    status('--tz', 'local', '--format', 'json'),
    runCliProcess(['job', 'next', job.job_id, '-n', '2', '--tz', 'Asia/Tokyo'], env),
  ]);
  assert.deepEqual(lines(byDefault), ['Start: 2099-02-28T15:00:00+00:00', 'Next Run At: 2099-02-28T15:00:00+00:00'], 'UTC by default, as before');
  assert.deepEqual(lines(local), ['Start: 2099-02-28T20:30:00+05:30', 'Next Run At: 2099-02-28T20:30:00+05:30']);
  assert.deepEqual(lines(utc), lines(byDefault));
  assert.deepEqual(lines(berlin), ['Start: 2099-02-28T16:00:00+01:00', 'Next Run At: 2099-02-28T16:00:00+01:00']);
  assert.equal((JSON.parse(asJson.stdout) as JobDocument).start, '2099-02-28T15:00:00+00:00', 'the JSON document stays UTC');
  assert.equal(nextTokyo.stdout, '2099-03-01T00:00:00+09:00\n2099-03-02T00:00:00+09:00\n');

  assertUsage(
    await status('--tz', 'Moon/Base'),
    'globus-timer: invalid --tz "Moon/Base": give utc, local or an IANA zone name such as Europe/Berlin',
    'bad --tz',
  );
  assertUsage(
    await runCliProcess(['job', 'status', job.job_id], { ...env, GLOBUS_TIMER_TZ: 'somewhere' }),
    'globus-timer: invalid GLOBUS_TIMER_TZ "somewhere": give utc, local or an IANA zone name such as Europe/Berlin',
    'bad GLOBUS_TIMER_TZ',
  );

  // history: slot and fired-at of a run, in the zone asked for.
  const fired = json<JobDocument>(
    await runCliProcess(
      ['job', 'submit', '--name', 'fires', '--interval', '1h', '--action-url', ap.runUrl, '--no-scope', '--action-body', '{"body": {}}', '--format', 'json'],
      env,
    ),
  );
  await ap.waitForRuns(1);
  const history = await runCliProcess(['job', 'history', fired.job_id, '--tz', 'local'], env);
  assert.equal(history.code, 0, history.stderr);
  assert.match(history.stdout.split('\n')[2]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?\+05:30 +\| \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?\+05:30 +\| /);

  // --start 02:00: the next 02:00 in the local zone, or in --timezone; never a past one.
  const before = Date.now();
  const nextTwo = json<JobDocument>(await runCliProcess(submitArgs('two', '--interval', '1d', '--start', '02:00', '--format', 'json'), env));
  const startMs = at(nextTwo.start);
  assert.match(formatIsoInZone(startMs, 'Asia/Kolkata'), /T02:00:00\+05:30$/);
  assert.ok(startMs >= before && startMs - before <= 86_400_000, nextTwo.start);
  const inTokyo = json<JobDocument>(
    await runCliProcess(submitArgs('tokyo-two', '--cron', '0 2 * * *', '--timezone', 'Asia/Tokyo', '--start', '02:00:00', '--format', 'json'), env),
  );
  assert.match(formatIsoInZone(at(inTokyo.start), 'Asia/Tokyo'), /T02:00:00\+09:00$/);
  assert.ok(at(inTokyo.start) >= before && at(inTokyo.start) - before <= 86_400_000);
});

// --- item 12: the legacy Transfer provider; known scopes -----------------------------------------

const TUTORIAL_1 = 'ddb59aef-6d04-11e5-ba46-22000b92c6ec';
const TUTORIAL_2 = 'ddb59af0-6d04-11e5-ba46-22000b92c6ec';
const LEGACY_URL = 'https://actions.automate.globus.org/transfer/transfer/run';
/** The original README's items; the items keep their field names at the current provider. */
const ITEMS = [{ source_path: '/share/godata/file1.txt', destination_path: '~/file1.txt', recursive: false }];
const LEGACY_BODY = { body: { source_endpoint_id: TUTORIAL_1, destination_endpoint_id: TUTORIAL_2, transfer_items: ITEMS, label: 'kept' } };
const CURRENT_BODY = { body: { source_endpoint: TUTORIAL_1, destination_endpoint: TUTORIAL_2, DATA: ITEMS, label: 'kept' } };

test('currentTransferParams and knownScope: the legacy URL (any trailing slash) and body, its scope; flows and Transfer scopes', () => {
  const env = { GLOBUS_TIMER_TRANSFER_ACTION_URL: 'http://127.0.0.1:1/transfer/run' };
  const given: SubmitJobParams = { name: 'n', interval_seconds: 600, callback_url: `${LEGACY_URL}/`, callback_body: LEGACY_BODY, scope: LEGACY_TRANSFER_SCOPE };
  const { params, notice } = currentTransferParams(given, env);
  assert.deepEqual(params, { ...given, callback_url: 'http://127.0.0.1:1/transfer/run', callback_body: CURRENT_BODY, scope: TRANSFER_SCOPE });
  assert.equal(
    notice,
    'globus-timer: actions.automate.globus.org was shut down on 2025-01-22; sending this job to the Globus Transfer Action Provider (http://127.0.0.1:1/transfer/run) with its field names',
  );
  assert.deepEqual(currentTransferParams({ ...given, callback_url: 'https://example.org/transfer/transfer/run' }, env).notice, null);
  assertInvalid(
    () => currentTransferParams({ ...given, callback_body: { body: { ...LEGACY_BODY.body, DATA: [] } } }, env),
    'the action body has both "transfer_items" (the legacy Transfer provider\'s name) and "DATA"; give only "DATA"',
  );

  const flow = '000a11ce-0000-1000-8000-0000000000f1';
  assert.equal(flowScope(flow), `https://auth.globus.org/scopes/${flow}/flow_000a11ce_0000_1000_8000_0000000000f1_user`);
  assert.equal(knownScope(`https://flows.globus.org/flows/${flow}/run`, {}), flowScope(flow));
  assert.equal(knownScope(`https://flows.globus.org/flows/${flow.toUpperCase()}/run/`, {}), flowScope(flow));
  assert.equal(knownScope(`https://flows.example.org/flows/${flow}/run`, {}), null, "only the Flows service's hosts");
  assert.equal(knownScope('https://transfer.actions.globus.org/transfer/run/', {}), TRANSFER_SCOPE);
  assert.equal(knownScope('http://127.0.0.1:1/transfer/run', env), TRANSFER_SCOPE);
  assert.equal(knownScope('http://127.0.0.1:1/transfer/run', {}), null);
  assert.equal(knownScope('https://actions.example.org/run', env), null);
  assert.equal(
    knownScope('https://actions.example.org/run', { GLOBUS_TIMER_TRANSFER_ACTION_URL: 'http://example.org/run' }),
    null,
    "a bad override is not this job's error",
  );
});

test("item 12: the original README's example runs at the current Transfer provider with its field names and the Transfer scope, no network", async (t) => {
  const auth = await startFakeAuth();
  t.after(() => auth.close());
  const ap = await startFakeProvider();
  t.after(() => ap.close());
  ap.auth = { scope: TRANSFER_SCOPE, accepts: (token, scope) => auth.accepts(token, scope) };
  const env: NodeJS.ProcessEnv = {
    ...cliEnv(t),
    GLOBUS_SDK_SERVICE_URL_AUTH: auth.baseUrl,
    GLOBUS_TIMER_TRANSFER_ACTION_URL: ap.runUrl,
    // A confidential client: no user consent to ask for, and the daemon gets its own token.
    GLOBUS_TIMER_CLIENT_ID: 'cc-client',
    GLOBUS_TIMER_CLIENT_SECRET: 'cc-secret',
  };
  await startDaemonProcess(t, env);
  const { label: _, ...legacyWithoutLabel } = LEGACY_BODY.body;
  const legacyBody = JSON.stringify({ body: legacyWithoutLabel });
  const r = await runCliProcess(
    ['job', 'submit', '--name', 'test-tutorial-job', '--interval', '600', '--action-url', LEGACY_URL, '--action-body', legacyBody],
    env,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stderr,
    `globus-timer: actions.automate.globus.org was shut down on 2025-01-22; sending this job to the Globus Transfer Action Provider (${ap.runUrl}) with its field names\n`,
  );
  const jobId = /^Job ID: +(\S+)$/m.exec(r.stdout)![1]!;
  const job = json<JobDocument>(await runCliProcess(['job', 'status', jobId, '--format', 'json'], env));
  assert.equal(job.callback_url, ap.runUrl);
  assert.equal(job.scope, TRANSFER_SCOPE);
  const { label: __, ...currentBody } = CURRENT_BODY.body;
  assert.deepEqual(job.callback_body, { body: currentBody });

  // Its first run (start: now) reaches the provider with the current names and a Transfer token.
  const [run] = await ap.waitForRuns(1);
  assert.deepEqual(run!.schemaErrors, []);
  assert.deepEqual((run!.body as { body: unknown }).body, currentBody);
  assert.ok(auth.accepts(run!.headers.authorization?.replace(/^Bearer /, ''), TRANSFER_SCOPE));
  // The scope is known; the introspection document is read only for its input_schema (issue 15), and carries no token.
  const looks = ap.requests.filter((q) => q.method === 'GET' && !q.path.endsWith('/status'));
  assert.deepEqual(
    looks.map((q) => [q.path, q.headers.authorization]),
    [['/ap/', undefined]],
  );

  // A flow's run URL: its scope is known, no introspection (flows.globus.org is unreachable here).
  const flow = '000a11ce-0000-1000-8000-0000000000f1';
  const flowJob = json<JobDocument>(
    await runCliProcess(
      [
        'job',
        'submit',
        '--name',
        'flow',
        '--interval',
        '1d',
        '--start',
        '2099-01-01T00:00:00Z',
        '--action-url',
        `https://flows.globus.org/flows/${flow}/run`,
        '--action-body',
        '{"body": {}}',
        '--format',
        'json',
      ],
      env,
    ),
  );
  assert.equal(flowJob.scope, flowScope(flow));
});
