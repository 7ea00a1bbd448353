/**
 * Issue 12 items 2 and 16: job ids are parsed as UUIDs (any case, printed lower case) or
 * unique prefixes, checked before any daemon is started, and resolved all at once before a
 * command acts on any; `job purge` removes deleted jobs and their history for good.
 * Through the real CLI (bin/globus-timer.js) against a real daemon process.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import test, { after, type TestContext } from 'node:test';
import { eq, sql } from 'drizzle-orm';
import { runCli } from '../src/cli/main.ts';
import { openDb } from '../src/daemon/store/open.ts';
import { jobs, runs } from '../src/daemon/store/schema.ts';
import { ERROR_CODES, InvalidInputError, TimerError } from '../src/core/errors.ts';
import { parseJobId } from '../src/core/job-id.ts';
import { RpcClient } from '../src/contract/client.ts';
import type { JobDocument, SubmitJobParams } from '../src/contract/protocol.ts';
import { runCliProcess, startDaemonProcess, tempHome, type CliResult } from './support/env.ts';
import { startFakeProvider } from './support/provider.ts';

const provider = await startFakeProvider();
after(() => provider.close());

const ID = '3b0e8f2c-1d4a-4c6e-9f0a-5b7c2d1e8f90';
const UNKNOWN = '00000000-0000-4000-8000-00000000beef';

function invalidIdLine(text: string): string {
  return `globus-timer: invalid job id ${JSON.stringify(text)}: give the job's id, a UUID such as 3b0e8f2c-1d4a-4c6e-9f0a-5b7c2d1e8f90, or at least its first 4 hex digits (list jobs with: globus-timer job list)\n`;
}

function assertExit(r: CliResult, code: number, stderr: string, what: string): void {
  assert.deepEqual({ code: r.code, stderr: r.stderr }, { code, stderr }, what);
}

test('job ids: a UUID in any case or a prefix of at least 4 hex digits, normalised; anything else is bad input', () => {
  const cases: [string, ReturnType<typeof parseJobId>][] = [
    [ID, { kind: 'id', id: ID }],
    [ID.toUpperCase(), { kind: 'id', id: ID }],
    [` ${ID} `, { kind: 'id', id: ID }],
    [ID.replaceAll('-', ''), { kind: 'id', id: ID }],
    ['3b0e', { kind: 'prefix', prefix: '3b0e' }],
    ['3B0E8F2C', { kind: 'prefix', prefix: '3b0e8f2c' }],
    ['3b0e8f2c-', { kind: 'prefix', prefix: '3b0e8f2c' }],
    ['3b0e8f2c-1d', { kind: 'prefix', prefix: '3b0e8f2c-1d' }],
    ['3b0e8f2c1d', { kind: 'prefix', prefix: '3b0e8f2c-1d' }],
    [ID.slice(0, -1), { kind: 'prefix', prefix: ID.slice(0, -1) }],
  ];
  for (const [text, want] of cases) assert.deepEqual(parseJobId(text), want, text);
  for (const bad of ['', '3b0', '3b0e-', '-3b0e', '3b0e8f2c--1d', '3b0e-8f2c', 'not-a-uuid', 'g00d', `${ID}0`, `{${ID}}`, '3b0e 8f2c', 'ünïcødé']) {
    assert.throws(
      () => parseJobId(bad),
      (e: unknown) => e instanceof InvalidInputError && e.message === invalidIdLine(bad).slice('globus-timer: '.length, -1),
      bad,
    );
  }
});

test('a malformed job id is exit 2 before any daemon is started, for every command that takes ids (issue 12 item 2)', async (t) => {
  const { env, paths } = tempHome(t); // autostart on: a daemon would be started if the CLI got that far
  try {
    await malformedIdsRefused(env);
  } finally {
    // Before the home goes: a daemon started by a CLI that got that far (before the fix) is stopped.
    if (fs.existsSync(paths.socketPath)) await runCliProcess(['daemon', 'stop'], env);
  }
  assert.equal(fs.existsSync(paths.socketPath), false, 'no daemon was started');
});

async function malformedIdsRefused(env: NodeJS.ProcessEnv): Promise<void> {
  const cases: [string[], string][] = [
    [['job', 'status', 'not-a-uuid'], 'not-a-uuid'],
    [['job', 'delete', UNKNOWN, 'bad'], 'bad'],
    [['job', 'purge', '3b0', '--yes'], '3b0'],
    [['job', 'pause', '3b0e-'], '3b0e-'],
    [['job', 'resume', 'xyz'], 'xyz'],
    [['job', 'run', `${ID}0`], `${ID}0`],
    [['job', 'update', 'g00d', '--name', 'x'], 'g00d'],
    [['job', 'history', 'not-a-uuid'], 'not-a-uuid'],
    [['job', 'next', 'not-a-uuid'], 'not-a-uuid'],
  ];
  // The first alone: were it to start a daemon, the others would find that one, not race to start more.
  const results = [await runCliProcess(cases[0]![0], env), ...(await Promise.all(cases.slice(1).map(([args]) => runCliProcess(args, env))))];
  for (const [i, [args, bad]] of cases.entries()) {
    assertExit(results[i]!, 2, invalidIdLine(bad), args.join(' '));
    assert.equal(results[i]!.stdout, '', args.join(' '));
  }
}

/** A daemon process in a fresh home, and an RPC client to seed it. */
async function daemonHome(t: TestContext, extraEnv: NodeJS.ProcessEnv = {}) {
  const home = tempHome(t);
  const env = { ...home.env, GLOBUS_TIMER_NO_AUTOSTART: '1', ...extraEnv };
  await startDaemonProcess(t, env);
  const client = await RpcClient.connect(home.paths.socketPath);
  t.after(() => client.close());
  const submit = (name: string, over: Partial<SubmitJobParams> = {}) =>
    client.call('job.submit', {
      name,
      start: '2099-01-01T00:00:00Z',
      interval_seconds: 86_400,
      callback_url: provider.runUrl,
      callback_body: { body: { name } },
      scope: null,
      ...over,
    });
  const cli = (args: string[]) => runCliProcess(args, env);
  return { ...home, env, client, submit, cli };
}

test('job ids in any case and unique prefixes resolve to the job; several ids are all resolved before any is acted on (issue 12 item 2)', async (t) => {
  const { client, submit, cli, paths } = await daemonHome(t);
  const alpha = (await submit('alpha')).job_id;
  const beta = (await submit('beta')).job_id;
  // Seven jobs whose ids share the prefix abcd (straight into the database: ids are random).
  const twins = Array.from({ length: 7 }, (_, i) => `abcd0000-0000-4000-8000-00000000000${i + 1}`);
  const db = openDb(paths.dbFile);
  t.after(() => db.$client.close());
  const alphaRow = db.select().from(jobs).where(eq(jobs.id, alpha)).get()!;
  for (const [i, id] of twins.entries())
    db.insert(jobs)
      .values({ ...alphaRow, id, name: `twin-${i + 1}` })
      .run();

  // Any case, printed lower case; a prefix, hyphenated or not, in any case.
  const typedIds = [alpha.toUpperCase(), alpha.slice(0, 8), alpha.slice(0, 13), alpha.replaceAll('-', '').slice(0, 10).toUpperCase()];
  const found = await Promise.all([
    ...typedIds.map((typed) => cli(['job', 'status', typed, '--format', 'json'])),
    cli(['job', 'history', alpha.slice(0, 6), '--format', 'json']),
  ]);
  for (const [i, r] of found.entries()) {
    assert.equal(r.code, 0, `${typedIds[i] ?? 'history'}: ${r.stderr}`);
    assert.equal((JSON.parse(r.stdout) as { job_id: string }).job_id, alpha, typedIds[i] ?? 'history');
  }

  // An ambiguous prefix: exit 2, naming a few candidates and how many more.
  const shown = twins
    .slice(0, 5)
    .map((id, i) => `${id} (twin-${i + 1}, loaded)`)
    .join(', ');
  const ambiguous = `globus-timer: the job id abcd is ambiguous: 7 jobs start with it: ${shown} …and 2 more; give more of the id\n`;
  const refusals: [string[], number, string][] = [
    [['job', 'status', 'abcd'], 2, ambiguous],
    [['job', 'delete', alpha, 'ABCD'], 2, ambiguous],
    [
      ['job', 'pause', 'abcd0000-0000-4000-8000-00000000000'],
      2,
      `globus-timer: the job id abcd0000-0000-4000-8000-00000000000 is ambiguous: 7 jobs start with it: ${shown} …and 2 more; give more of the id\n`,
    ],
    // Unknown: exit 1, as before.
    [['job', 'delete', UNKNOWN, alpha], 1, `globus-timer: no job with id ${UNKNOWN}; list jobs with: globus-timer job list\n`],
    [['job', 'delete', alpha, 'abcdffff'], 1, 'globus-timer: no job id starts with abcdffff; list jobs with: globus-timer job list --show-deleted\n'],
  ];
  const refused = await Promise.all(refusals.map(([args]) => cli(args)));
  for (const [i, [args, code, stderr]] of refusals.entries()) assertExit(refused[i]!, code, stderr, args.join(' '));
  assert.equal((await client.call('job.get', { job_id: alpha })).status, 'loaded', 'nothing was deleted by the refused commands');

  // A full id in upper case deletes; a deleted job is still found by a prefix (its history stays readable).
  const del = await cli(['job', 'delete', beta.toUpperCase(), beta.slice(0, 8)]);
  assert.equal(del.code, 0, del.stderr);
  assert.equal(del.stdout.match(/^Job ID: /gm)?.length, 1, 'an id given twice is deleted once');
  const deleted = await cli(['job', 'status', beta.slice(0, 8), '--format', 'json']);
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.equal((JSON.parse(deleted.stdout) as JobDocument).status, 'deleted');

  // Every id-taking command goes through the resolver.
  for (const args of [
    ['job', 'next', alpha.slice(0, 8).toUpperCase()],
    ['job', 'pause', alpha.slice(0, 8)],
    ['job', 'resume', alpha.slice(0, 8)],
    ['job', 'update', alpha.slice(0, 8), '--name', 'alpha2'],
  ]) {
    const r = await cli(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  }
  assert.equal((await client.call('job.get', { job_id: alpha })).name, 'alpha2');

  // The RPC contract: job.resolve resolves what a user typed; the other methods take full ids.
  const resolved = await client.call('job.resolve', { job_ids: [alpha.toUpperCase(), beta.slice(0, 4 + 4)] });
  assert.deepEqual(
    resolved.jobs.map((j) => [j.job_id, j.status]),
    [
      [alpha, 'loaded'],
      [beta, 'deleted'],
    ],
  );
  await assert.rejects(client.call('job.purge', { job_ids: ['abcd'] }), (e: unknown) => e instanceof TimerError && e.code === ERROR_CODES.INVALID_INPUT);
});

/** Poll `check` until it is true (or fail after `timeoutMs`). */
async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  for (const start = Date.now(); !(await check()); ) {
    if (Date.now() - start > timeoutMs) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('job purge removes deleted jobs and their history for good: asks at a terminal, needs --yes elsewhere, refuses a job that is not deleted or still closing runs (issue 12 item 16)', async (t) => {
  // A run request that hangs stays open this long after its job is deleted.
  const { env, client, submit, cli, paths } = await daemonHome(t, { GLOBUS_TIMER_ACTION_TIMEOUT_MS: '10000' });
  const keep = (await submit('keep')).job_id;
  const gone = (await submit('gone')).job_id;
  assert.equal((await cli(['job', 'run', gone])).code, 0);
  await eventually('the run of gone ends', async () => (await client.call('job.get', { job_id: gone })).results.data[0]?.completed_at != null);

  // Not deleted: refused, exit 1 (a runtime state, as a deleted job is for the other commands), nothing purged.
  const notDeleted = `globus-timer: job ${gone} is loaded, not deleted: only deleted jobs are purged; nothing was purged. Delete it first: globus-timer job delete ${gone}\n`;
  assertExit(await cli(['job', 'purge', gone, '--yes']), 1, notDeleted, 'purge a loaded job');
  assert.equal((await cli(['job', 'delete', gone])).code, 0);
  const keepNotDeleted = `globus-timer: job ${keep} is loaded, not deleted: only deleted jobs are purged; nothing was purged. Delete it first: globus-timer job delete ${keep}\n`;
  assertExit(await cli(['job', 'purge', gone, keep, '--yes']), 1, keepNotDeleted, 'one of two not deleted');
  // No terminal to ask at (stdin is not a TTY here) and no --yes: exit 2, before the daemon is asked.
  assertExit(
    await cli(['job', 'purge', gone]),
    2,
    'globus-timer: job purge removes jobs and their history for good: confirm with --yes (there is no terminal to ask at)\n',
    'no --yes',
  );
  assert.equal((await client.call('job.get', { job_id: gone })).status, 'deleted', 'still there');

  // At a terminal: the jobs, then the question; anything but y/yes keeps them.
  const ask = async (answer: string) => {
    const out: string[] = [];
    const err: string[] = [];
    const prompts: string[] = [];
    const readLine = async (prompt: string) => {
      prompts.push(prompt);
      return answer;
    };
    const code = await runCli(['job', 'purge', gone.slice(0, 8)], { out: (s) => out.push(s), err: (s) => err.push(s), env, interactive: true, readLine });
    return { code, out, err, prompts };
  };
  const declined = await ask('n');
  assert.deepEqual(declined, {
    code: 0,
    out: ['Nothing purged.'],
    err: [`  ${gone}  gone  (1 run)`],
    prompts: ['Purge 1 deleted job(s) and their history for good? [y/N] '],
  });
  assert.equal((await client.call('job.get', { job_id: gone })).status, 'deleted');
  const accepted = await ask('y');
  assert.deepEqual(accepted.out, [`Purged job ${gone} (gone) and its 1 run.`]);
  assert.equal(accepted.code, 0);

  // Gone for good: the job and its runs.
  assertExit(await cli(['job', 'status', gone]), 1, `globus-timer: no job with id ${gone}; list jobs with: globus-timer job list\n`, 'status after purge');
  assertExit(await cli(['job', 'history', gone]), 1, `globus-timer: no job with id ${gone}; list jobs with: globus-timer job list\n`, 'history after purge');
  const db = openDb(paths.dbFile);
  t.after(() => db.$client.close());
  assert.equal(db.select({ n: sql<number>`count(*)` }).from(runs).where(eq(runs.jobId, gone)).get()!.n, 0, 'its runs are gone');
  assert.equal((await client.call('job.get', { job_id: keep })).status, 'loaded');

  // A deleted job whose run is still being closed (its submission on the wire) is refused
  // until the run is closed; then it is purged.
  provider.runReplies.push({ kind: 'hang' });
  const slow = (await submit('slow')).job_id;
  const runsBefore = provider.runRequests().length;
  assert.equal((await cli(['job', 'run', slow])).code, 0);
  await provider.waitForRuns(runsBefore + 1);
  await client.call('job.delete', { job_id: slow }); // quick: the purge must come while the request hangs
  assertExit(
    await cli(['job', 'purge', slow, '--yes']),
    1,
    `globus-timer: job ${slow} still has runs being closed (their actions are being cancelled); nothing was purged. Try again in a moment\n`,
    'purge with a run open',
  );
  let purged: CliResult | undefined;
  await eventually(
    'the run of the deleted job is closed and the job purged',
    async () => {
      purged = await cli(['job', 'purge', slow.toUpperCase(), '--yes', '--format', 'json']);
      return purged.code === 0;
    },
    30_000,
  );
  assert.deepEqual(JSON.parse(purged!.stdout), { purged: [{ job_id: slow, name: 'slow', status: 'deleted', runs: 1 }] });
});
