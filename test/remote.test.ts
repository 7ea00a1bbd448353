/**
 * Issue 15, remote mode: the CLI drives another globus-timer daemon's Timers REST API
 * (`--service URL`, GLOBUS_TIMER_SERVICE, GLOBUS_TIMER_SERVICE_TOKEN) with the same job
 * commands and the same output as against its local daemon. Real processes: a daemon with
 * the API on 127.0.0.1:0 in one home ("there"), the CLI in a second home with no daemon
 * ("here"), a fake Action Provider the jobs call.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test, type TestContext } from 'node:test';
import type { JobDocument } from '../src/contract/protocol.ts';
import { API_ADDR_ENV } from '../src/core/api-addr.ts';
import { SERVICE_ENV, SERVICE_TOKEN_ENV } from '../src/remote/service.ts';
import { cliThatSucceeds, startApiDaemon } from './support/api.ts';
import { freePort, runCliProcess, startDaemonProcess, tempHome, type CliResult } from './support/env.ts';
import { until } from './support/until.ts';

function assertExit(r: CliResult, code: number, what: string): void {
  assert.equal(r.code, code, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

/** A daemon serving the API ("there"), and a second home whose CLI drives it by URL ("here"). */
async function setUp(t: TestContext) {
  const { ap, url, token, cli: local } = await startApiDaemon(t);
  const here = tempHome(t);
  // No autostart: were remote mode to reach for a local daemon, the command would fail.
  const hereEnv: NodeJS.ProcessEnv = { ...here.env, GLOBUS_TIMER_NO_AUTOSTART: '1', [SERVICE_ENV]: url, [SERVICE_TOKEN_ENV]: token };
  delete hereEnv[API_ADDR_ENV];
  return { ap, url, token, local, remote: cliThatSucceeds(hereEnv), hereEnv, hereHome: here.home };
}

const jobOf = (text: string) => JSON.parse(text) as JobDocument;

test('--service URL: every job command against another daemon, with the output local mode gives, and no local daemon', async (t) => {
  const { ap, url, token, local, remote, hereEnv, hereHome } = await setUp(t);

  // Made here, remotely: runs there every second.
  const made = jobOf(
    await remote(
      'job',
      'submit',
      '--name',
      'remote job',
      '--action-url',
      ap.runUrl,
      '--action-body',
      '{"body":{"n":1}}',
      '--interval',
      '1',
      '--no-scope',
      '--format',
      'json',
    ),
  );
  assert.equal(made.name, 'remote job');
  assert.equal(made.status, 'loaded');
  const id = made.job_id;
  // Seen there by the local CLI: one job store.
  assert.equal(jobOf(await local('job', 'status', id, '--format', 'json')).callback_url, ap.runUrl);

  await ap.waitForRuns(2);
  await until('two finished runs there', async () => (jobOf(await local('job', 'status', id, '--format', 'json')).n_runs >= 2 ? true : undefined));
  await remote('job', 'pause', id);
  // Paused: nothing runs or changes there while we compare the two views.
  const settled = await until('the run in flight closed', async () => {
    const j = jobOf(await local('job', 'status', id, '--format', 'json'));
    return j.status === 'inactive' && j.results.data.every((r) => r.completed_at !== null) ? j : undefined;
  });
  assert.equal(settled.inactive_reason?.cause, 'user');

  // The same text as local mode, for the record, the list and the upcoming runs.
  assert.equal(await remote('job', 'status', id), await local('job', 'status', id));
  assert.equal(await remote('job', 'list'), await local('job', 'list'));
  assert.equal(await remote('job', 'next', id), await local('job', 'next', id));
  // A unique prefix works remotely too (matched against the service's list).
  assert.equal(await remote('job', 'status', id.slice(0, 8)), await local('job', 'status', id));

  // History: the same runs and results; the service keeps no slot, so no lateness column there.
  type Runs = { runs: { status: number; run_state: string; lateness_ms: number | null }[] };
  const remoteRuns = (JSON.parse(await remote('job', 'history', id, '--format', 'json')) as Runs).runs;
  const localRuns = (JSON.parse(await local('job', 'history', id, '--format', 'json')) as Runs).runs;
  assert.ok(remoteRuns.length >= 2);
  assert.deepEqual(
    remoteRuns.map((r) => [r.status, r.run_state]),
    localRuns.map((r) => [r.status, r.run_state]),
  );
  assert.ok(remoteRuns.every((r) => r.lateness_ms === null));
  // The API pages `results` as upstream does (page_size, results_pt), which remote history follows.
  const page = async (query: string) => {
    const res = await fetch(`${url}/jobs/${id}?${query}`, { headers: { Authorization: `Bearer ${token}` } });
    return (await res.json()) as { results: { data: { ran_at: string }[]; page_next: string | null } };
  };
  const first = await page('page_size=1');
  assert.equal(first.results.data.length, 1);
  assert.ok(first.results.page_next);
  const second = await page(`page_size=1&results_pt=${encodeURIComponent(first.results.page_next)}`);
  assert.equal(second.results.data.length, 1);
  assert.ok(second.results.data[0]!.ran_at < first.results.data[0]!.ran_at, 'older, newest first');
  const bad = await fetch(`${url}/jobs/${id}?page_size=0`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(bad.status, 422);

  // Resume, rename, and (our daemon's PATCH extension) a new interval.
  await remote('job', 'resume', id);
  assert.equal(jobOf(await local('job', 'status', id, '--format', 'json')).status, 'loaded');
  await remote('job', 'update', id, '--name', 'renamed', '--interval', '3600');
  const updated = jobOf(await local('job', 'status', id, '--format', 'json'));
  assert.equal(updated.name, 'renamed');
  assert.equal(updated.interval, 3600);

  // What only the local daemon has: one line, exit 2, nothing changed there.
  for (const cmd of [
    ['job', 'run', id],
    ['job', 'purge', id, '--yes'],
  ]) {
    const r = await runCliProcess(cmd, hereEnv);
    assertExit(r, 2, cmd.join(' '));
    assert.match(
      r.stderr,
      new RegExp(
        `^globus-timer: job (run|purge) needs the local daemon: the Timers API at ${url.replace(/[.]/g, '\\.')} has no such call \\(use --service local\\)\\n$`,
      ),
    );
  }
  const cron = await runCliProcess(
    ['job', 'submit', '--name', 'c', '--action-url', ap.runUrl, '--action-body', '{"body":{}}', '--cron', '0 2 * * *', '--no-scope'],
    hereEnv,
  );
  assertExit(cron, 2, 'a cron job remotely');
  assert.match(cron.stderr, /has no cron schedules \(--cron\): use --interval, or keep this job on the local daemon/);
  assert.equal((JSON.parse(await local('job', 'list', '--format', 'json')) as unknown[]).length, 1, 'no job was made');

  // -v names the service.
  const verbose = await runCliProcess(['job', 'status', id, '-v'], hereEnv);
  assertExit(verbose, 0, 'job status -v');
  assert.equal(verbose.stderr, `globus-timer: answered by the Timers API at ${url}\n`);

  // job transfer remotely is a TransferTimer (POST /v2/timer): there, a transfer job on its
  // Transfer provider, inactive until that daemon's user consents (its tokens, not ours).
  const transfer = jobOf(
    await remote(
      'job',
      'transfer',
      '--name',
      'remote transfer',
      '--source-endpoint',
      'ddb59aef-6d04-11e5-ba46-22000b92c6ec',
      '--dest-endpoint',
      'ddb59af0-6d04-11e5-ba46-22000b92c6ec',
      '--item',
      '/a',
      '/b',
      'false',
      '--interval',
      '3600',
      '--format',
      'json',
    ),
  );
  const seenThere = jobOf(await local('job', 'status', transfer.job_id, '--format', 'json'));
  assert.equal(seenThere.callback_url, 'https://transfer.actions.globus.org/transfer/run');
  assert.equal(seenThere.status, 'inactive');
  assert.equal(seenThere.inactive_reason?.cause, 'globus_auth_requirements');
  assert.deepEqual((seenThere.callback_body.body as { DATA: unknown }).DATA, [{ source_path: '/a', destination_path: '/b', recursive: false }]);
  await remote('job', 'delete', transfer.job_id);

  // Delete remotely: deleted there.
  await remote('job', 'delete', id);
  assert.equal(jobOf(await local('job', 'status', id, '--format', 'json')).status, 'deleted');
  // Remote mode never started (or even looked for) a local daemon: this home is as it was made.
  assert.deepEqual(fs.readdirSync(hereHome), []);
});

test('--service URL: a missing or wrong token, an unreachable or non-loopback http URL, an unknown job: one line each, the right exit', async (t) => {
  const { url, hereEnv } = await setUp(t);
  const closed = await freePort();
  const cases: [string, string[], NodeJS.ProcessEnv, number, RegExp][] = [
    [
      'no token',
      ['job', 'list'],
      { ...hereEnv, [SERVICE_TOKEN_ENV]: '' },
      2,
      /^globus-timer: set GLOBUS_TIMER_SERVICE_TOKEN to the token of the Timers API at http:\/\/127\.0\.0\.1:\d+ \(/,
    ],
    [
      'a wrong token',
      ['job', 'list'],
      { ...hereEnv, [SERVICE_TOKEN_ENV]: 'wrong' },
      1,
      /^globus-timer: the Timers API at http:\/\/127\.0\.0\.1:\d+ refused the token \(HTTP 401: .*\); check GLOBUS_TIMER_SERVICE_TOKEN/,
    ],
    [
      'nothing listening',
      ['--service', `http://127.0.0.1:${closed}`, 'job', 'list'],
      hereEnv,
      1,
      new RegExp(
        `^globus-timer: no answer from the Timers API at http://127\\.0\\.0\\.1:${closed}: .*connection refused \\(ECONNREFUSED\\); check the address`,
      ),
    ],
    [
      'plain http off loopback',
      ['--service', 'http://10.0.0.1:8080', 'job', 'list'],
      hereEnv,
      2,
      /^globus-timer: invalid --service "http:\/\/10\.0\.0\.1:8080": a Timers API is reached over https, or over http on loopback/,
    ],
    [
      'not a service',
      ['job', 'list'],
      { ...hereEnv, [SERVICE_ENV]: 'elsewhere' },
      2,
      /^globus-timer: invalid GLOBUS_TIMER_SERVICE "elsewhere": use local, hosted, or the base URL/,
    ],
    [
      'an unknown job',
      ['job', 'status', '00000000-0000-4000-8000-000000000000'],
      hereEnv,
      1,
      /^globus-timer: no job with id 00000000-0000-4000-8000-000000000000/,
    ],
  ];
  for (const [what, args, env, code, line] of cases) {
    const r = await runCliProcess(args, env);
    assertExit(r, code, what);
    assert.match(r.stderr, line, what);
    assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, `${what}: one line`);
    assert.equal(r.stdout, '', what);
  }
  // The token never shows in what the CLI prints, even when it is refused.
  const r = await runCliProcess(['job', 'list'], { ...hereEnv, [SERVICE_TOKEN_ENV]: 'sekrit-token-value' });
  assert.equal(r.code, 1, `${url} refused it`);
  assert.ok(!r.stderr.includes('sekrit-token-value'));
});

test('job copy: local → another daemon → local, same schedule and body; the source deleted only when asked and only once the copy exists', async (t) => {
  const { url, local: there, hereEnv: remoteEnv } = await setUp(t);
  // "Here" runs a daemon of its own this time: the source of the first copy.
  const hereEnv: NodeJS.ProcessEnv = { ...remoteEnv, [SERVICE_ENV]: 'local' };
  await startDaemonProcess(t, hereEnv);
  t.after(() => runCliProcess(['daemon', 'stop'], hereEnv));
  const here = cliThatSucceeds(hereEnv);
  const made = jobOf(
    await here(
      'job',
      'submit',
      '--name',
      'backup',
      '--action-url',
      'http://127.0.0.1:9/run',
      '--action-body',
      '{"body":{"n":2}}',
      '--interval',
      '3600',
      '--start',
      '2030-01-01T00:00:00Z',
      '--stop-after-runs',
      '5',
      '--no-scope',
      '--on-failure',
      'true',
      '--format',
      'json',
    ),
  );

  const out = await here('job', 'copy', made.job_id, '--to', url);
  // The Timers API has no failure hooks: said, not dropped silently.
  assert.match(out, /Not carried: .*its failure hook \(--on-failure\/--notify: the Timers API at .* has none\)\./);
  const copyId = /its id there is ([0-9a-f-]{36})\./.exec(out)?.[1];
  assert.ok(copyId, out);
  assert.match(out, new RegExp(`^Copied job ${made.job_id} \\(backup\\) from the local daemon to the Timers API at ${url.replace(/[.]/g, '\\.')}: `));
  const copy = jobOf(await there('job', 'status', copyId, '--format', 'json'));
  const same = (j: JobDocument) => [j.name, j.start, j.interval, j.stop_after, j.callback_url, j.callback_body, j.status];
  assert.deepEqual(same(copy), same(made));
  assert.equal(jobOf(await here('job', 'status', made.job_id, '--format', 'json')).status, 'loaded', 'the source is kept');

  // Back again, and the copy there deleted once the new one exists here.
  const back = JSON.parse(await here('job', 'copy', copyId, '--from', url, '--to', 'local', '--delete-source', '--format', 'json')) as {
    copy: JobDocument;
    source_deleted: boolean;
  };
  assert.equal(back.source_deleted, true);
  assert.deepEqual(same(back.copy), same(made));
  assert.equal(jobOf(await there('job', 'status', copyId, '--format', 'json')).status, 'deleted');

  // What the target cannot hold is refused before anything is made.
  const cron = jobOf(
    await here(
      'job',
      'submit',
      '--name',
      'c',
      '--action-url',
      'http://127.0.0.1:9/run',
      '--action-body',
      '{"body":{}}',
      '--cron',
      '0 2 * * *',
      '--no-scope',
      '--format',
      'json',
    ),
  );
  const before = (JSON.parse(await there('job', 'list', '--format', 'json')) as unknown[]).length;
  const refused = await runCliProcess(['job', 'copy', cron.job_id, '--to', url], hereEnv);
  assertExit(refused, 2, 'a cron job to a service without cron');
  assert.match(refused.stderr, /runs on a cron schedule, which the Timers API at .* does not have; it stays on the local daemon\n$/);
  // A target that refuses (a wrong token): nothing made there, and --delete-source deletes nothing.
  const wrong = await runCliProcess(['job', 'copy', made.job_id, '--to', url, '--delete-source'], { ...hereEnv, [SERVICE_TOKEN_ENV]: 'wrong' });
  assertExit(wrong, 1, 'the target refuses the token');
  assert.equal((JSON.parse(await there('job', 'list', '--format', 'json')) as unknown[]).length, before);
  assert.equal(jobOf(await here('job', 'status', made.job_id, '--format', 'json')).status, 'loaded');
});
