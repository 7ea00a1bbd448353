/**
 * The dashboard (issue 16 items 3 and 6) in a real headless Chromium (Debian's, driven by
 * playwright-core; .ci/run installs it), against a real daemon with the API on, jobs that
 * have run against loopback Action Providers (one whose runs fail), and the real CLI:
 * the login code's trade for its cookie, the jobs table, one timeline mark per run, Pause from the
 * job's page as the CLI sees it, a new run arriving over Server-Sent Events without a
 * reload, no token in the page. It also takes the screenshots in docs/.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startApiDaemon } from './support/api.ts';
import { ROOT } from './support/env.ts';
import { startFakeProvider } from './support/provider.ts';

const CHROMIUM = '/usr/bin/chromium';
const DOCS = path.join(ROOT, 'docs');

/** What works in this sandbox (and CI): no network, no sandbox as root, a fresh profile (playwright makes one). */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

interface HistoryRun {
  slot: string;
  ran_at: string;
  run_state: string;
  completed_at: string | null;
  manual: boolean;
}

/** Until `check` returns a value (not undefined), trying every 100 ms for `ms`; then the last failure. */
async function eventually<T>(what: string, check: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const got = await check();
    if (got !== undefined) return got;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function launch(t: TestContext): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  t.after(() => browser.close());
  return browser;
}

/** The timeline's runs as the page holds them: `job|slot` keys (the run's identity in `job history`). */
async function pageRunKeys(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const d = (globalThis as unknown as { dashboard: { timeline: { keys(): string[] } } }).dashboard;
    return d.timeline.keys();
  });
}

test('the dashboard in headless Chromium: login code → cookie, every job, one mark per run, Pause, live runs, no token in the page', {
  skip: !fs.existsSync(CHROMIUM) && `no ${CHROMIUM}: install Debian's chromium (apt-get install chromium; .ci/run does)`,
  timeout: 120_000,
}, async (t) => {
  const { ap, url, token, cli } = await startApiDaemon(t);
  // Runs take a few polls, so they have a length on the timeline.
  ap.defaultRunReply = {
    kind: 'accept',
    httpStatus: 202,
    activePolls: 2,
    final: 'SUCCEEDED',
    document: { details: { DATA_TYPE: 'task', files: 1284, files_transferred: 1284, bytes_transferred: 7_340_032_000 } },
  };
  const failing = await startFakeProvider();
  t.after(() => failing.close());
  failing.defaultRunReply = {
    kind: 'accept',
    httpStatus: 202,
    activePolls: 1,
    final: 'FAILED',
    document: { details: { code: 'PERMISSION_DENIED', description: 'no write access to /archive/logs on the destination collection' } },
  };

  const submit = async (name: string, schedule: string[], runUrl = ap.runUrl): Promise<string> => {
    const out = await cli(
      'job',
      'submit',
      '--name',
      name,
      ...schedule,
      '--no-scope',
      '--action-url',
      runUrl,
      '--action-body',
      '{"body": {}}',
      '--format',
      'json',
    );
    return (JSON.parse(out) as { job_id: string }).job_id;
  };
  const soon = new Date(Date.now() + 1000).toISOString();
  const fast = {
    backup: await submit('nightly-backup', ['--interval', '2s', '--start', soon]),
    sync: await submit('sync-results', ['--interval', '3s', '--start', soon]),
    archive: await submit('archive-logs', ['--interval', '4s', '--start', soon], failing.runUrl),
  };
  const report = await submit('weekly-report', ['--cron', '0 2 * * 1', '--timezone', 'UTC']);
  const cleanup = await submit('scratch-cleanup', ['--interval', '1d', '--start', new Date(Date.now() + 3 * 3600_000).toISOString()]);
  await cli('job', 'pause', cleanup);
  // Ten jobs in all, as a screen should hold: these have schedules that do not come round during the test.
  const slow = [
    await submit('db-snapshot', ['--interval', '1d', '--start', '02:00']),
    await submit('photos-offsite', ['--cron', '30 3 * * *', '--timezone', 'Europe/Berlin']),
    await submit('home-dirs', ['--interval', '6h', '--start', new Date(Date.now() + 2 * 3600_000).toISOString()]),
    await submit('mirror-datasets', ['--interval', '1w', '--start', new Date(Date.now() + 30 * 3600_000).toISOString()]),
    await submit('log-rotate', ['--cron', '0 * * * *']),
  ];
  const allJobs = [...Object.values(fast), report, cleanup, ...slow];

  const history = async (id: string): Promise<HistoryRun[]> =>
    (JSON.parse(await cli('job', 'history', id, '--limit', '1000', '--format', 'json')) as { runs: HistoryRun[] }).runs;
  // Each fast job has run a few times (the failing one has failed a few times).
  await eventually(
    'three finished runs of each fast job',
    async () => {
      for (const id of Object.values(fast)) if ((await history(id)).filter((r) => r.completed_at !== null).length < 3) return undefined;
      return true;
    },
    30_000,
  );

  const browser = await launch(t);
  // A 1366×768 laptop screen, less the browser's own bars.
  const context = await browser.newContext({ viewport: { width: 1366, height: 680 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));

  // `globus-timer dashboard`'s one-time login URL is traded for the cookie, and the address loses it (303 to /).
  const login = (JSON.parse(await cli('dashboard', '--print', '--format', 'json')) as { url: string }).url;
  assert.match(login, /\/\?code=[\w-]{43}$/);
  const response = await page.goto(login);
  assert.equal(page.url(), `${url}/`, 'the redirect dropped the code from the address');
  assert.equal(response?.request().redirectedFrom()?.url(), login);
  assert.equal((await response?.request().redirectedFrom()?.response())?.status(), 303);
  const cookies = await context.cookies(url);
  assert.equal(cookies.length, 1);
  assert.equal(cookies[0]!.name, `globus_timer_session_${new URL(url).port}`);
  assert.equal(cookies[0]!.httpOnly, true);
  assert.equal(cookies[0]!.sameSite, 'Strict');
  assert.notEqual(cookies[0]!.value, token, 'the cookie is not the token');
  assert.equal(await page.evaluate(() => (globalThis as unknown as { document: { cookie: string } }).document.cookie), '', 'scripts cannot read the cookie');
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForSelector('#live.on');

  // Every job is in the table, the failing one marked failed, and the header counts it.
  const rows = await page.$$eval('#jobs tbody tr', (trs) => trs.map((tr) => ({ id: tr.getAttribute('data-job-id'), failed: tr.classList.contains('failed') })));
  assert.deepEqual(rows.map((r) => r.id).sort(), [...allJobs].sort());
  assert.deepEqual(
    rows.filter((r) => r.failed).map((r) => r.id),
    [fast.archive],
  );
  assert.equal(await page.textContent('#failed-count'), '1 failed');
  assert.match((await page.textContent(`tr[data-job-id="${report}"] td.schedule`)) ?? '', /^cron 0 2 \* \* 1 \(UTC\)$/);
  assert.match((await page.textContent(`tr[data-job-id="${fast.backup}"] td.schedule`)) ?? '', /^every 2 s from \d\d:\d\d:\d\d$/);
  assert.match((await page.textContent(`tr[data-job-id="${slow[0]}"] td.schedule`)) ?? '', /^every 1 day from 02:00$/);
  assert.match((await page.textContent(`tr[data-job-id="${fast.sync}"] td:nth-child(6)`)) ?? '', /^(in \d|due now)/, 'a countdown');
  // Ten jobs and their timeline, without scrolling.
  const { scrollHeight, innerHeight } = await page.evaluate(() => ({
    scrollHeight: (globalThis as unknown as { document: { documentElement: { scrollHeight: number } } }).document.documentElement.scrollHeight,
    innerHeight: (globalThis as unknown as { innerHeight: number }).innerHeight,
  }));
  assert.ok(scrollHeight <= innerHeight, `the page is ${scrollHeight} px high in a ${innerHeight} px window`);

  // A mark's tooltip tells its job, state, lateness and summary.
  const failedKey = (await pageRunKeys(page)).find((k) => k.startsWith(`${fast.archive}|`));
  assert.ok(failedKey);
  const at = await page.evaluate((key) => {
    const d = (globalThis as unknown as { dashboard: { timeline: { point(k: string): { x: number; y: number } | null } } }).dashboard;
    return d.timeline.point(key);
  }, failedKey);
  assert.ok(at);
  await page.mouse.move(at.x, at.y);
  await page.waitForSelector('#tip:not([hidden])');
  const tipText = (await page.textContent('#tip')) ?? '';
  assert.match(tipText, /archive-logs/);
  assert.match(tipText, /failed/);
  assert.match(tipText, /late/);
  // Zoom: the buttons, and the wheel within 1 minute and 90 days.
  const span = async () => Number(await page.getAttribute('#timeline', 'data-span'));
  await page.click('button.zoom[data-ms="3600000"]');
  assert.equal(await span(), 3600_000);
  await page.mouse.move(at.x, at.y);
  for (let i = 0; i < 40; i++) await page.mouse.wheel(0, 400);
  await eventually('the widest zoom', async () => ((await span()) === 90 * 24 * 3600_000 ? true : undefined));
  for (let i = 0; i < 80; i++) await page.mouse.wheel(0, -400);
  await eventually('the narrowest zoom', async () => ((await span()) === 60_000 ? true : undefined));
  await page.mouse.move(0, 0);

  // The page's HTML (as served and as built) holds no token.
  assert.ok(!(await page.content()).includes(token), 'no token in the rendered page');
  const served = await page.evaluate(async () => (await fetch('/')).text());
  assert.ok(!served.includes(token), 'no token in the served HTML');

  // Screenshots of the jobs page: light, and dark.
  await page.click('button.zoom[data-ms="60000"]');
  fs.mkdirSync(DOCS, { recursive: true });
  await page.screenshot({ path: path.join(DOCS, 'dashboard.png') });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.waitForTimeout(200); // the timeline's axes are redrawn in the new colours
  await page.screenshot({ path: path.join(DOCS, 'dashboard-dark.png') });
  await page.emulateMedia({ colorScheme: 'light' });

  // The failing job's page: its runs, then Pause, as the CLI sees it.
  const jobPage = await context.newPage();
  jobPage.on('pageerror', (err) => errors.push(err.message));
  await jobPage.goto(`${url}/job/${fast.archive}`);
  await jobPage.waitForSelector('body[data-ready="true"]');
  await jobPage.waitForSelector('#runs tbody tr td .run');
  // Its failed runs, each a red row (runs go on arriving: compared until the page has caught up).
  await eventually('a red row per failed run', async () => {
    const rows = await jobPage.$$eval('#runs tbody tr.failed', (trs) => trs.length);
    return rows > 0 && rows === (await history(fast.archive)).filter((r) => r.run_state === 'failed').length ? true : undefined;
  });
  assert.equal(await jobPage.getAttribute('.job-head', 'class'), 'panel job-head failed');
  await jobPage.click('button.zoom[data-ms="60000"]');
  await jobPage.screenshot({ path: path.join(DOCS, 'dashboard-job.png') });
  await jobPage.click('#pause');
  const status = await eventually('the job paused', async () => {
    const doc = JSON.parse(await cli('job', 'status', fast.archive, '--format', 'json')) as { status: string; inactive_reason: { cause: string } | null };
    return doc.status === 'inactive' ? doc : undefined;
  });
  assert.equal(status.inactive_reason?.cause, 'user');
  await jobPage.waitForSelector('#resume:not([disabled])');

  // Stop the others too, let their last runs end: then the timeline must hold exactly the runs `job history` has.
  await cli('job', 'pause', fast.sync);
  await cli('job', 'pause', fast.backup);
  const allRuns = async () => {
    const keys: string[] = [];
    for (const id of allJobs) for (const r of await history(id)) keys.push(`${id}|${Date.parse(r.slot)}|${r.completed_at === null ? 'open' : 'done'}`);
    return keys.sort();
  };
  const settled = await eventually('every run ended', async () => {
    const keys = await allRuns();
    return keys.every((k) => k.endsWith('|done')) ? keys : undefined;
  });
  const wanted = settled.map((k) => k.slice(0, k.lastIndexOf('|')));
  // The page learnt of the last runs' ends over its event stream: no reload.
  await page.evaluate(() => {
    (globalThis as unknown as { notReloaded: boolean }).notReloaded = true;
  });
  const keys = await eventually('the timeline to hold every run', async () => {
    const got = (await pageRunKeys(page)).sort();
    return JSON.stringify(got) === JSON.stringify(wanted) ? got : undefined;
  }).catch(async (err: Error) => {
    assert.deepEqual((await pageRunKeys(page)).sort(), wanted, err.message);
    throw err;
  });
  assert.equal(Number(await page.getAttribute('#timeline', 'data-marks')), keys.length, 'one mark per run');
  assert.ok(keys.length >= 9);

  // A new run appears without a reload.
  const before = keys.length;
  await cli('job', 'run', report);
  await eventually('the new run on the timeline', async () => ((await pageRunKeys(page)).length === before + 1 ? true : undefined));
  const reportRuns = await history(report);
  assert.equal(reportRuns.length, 1);
  assert.ok((await pageRunKeys(page)).includes(`${report}|${Date.parse(reportRuns[0]!.slot)}`));
  await eventually('its row updated', async () => ((await page.textContent(`tr[data-job-id="${report}"] .run`)) === 'succeeded' ? true : undefined));
  assert.equal(await page.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded), true, 'the page was not reloaded');

  // Refused (503: every stream taken), the browser's EventSource gives up for good: the page
  // makes a new one, with a backoff, and is live again once a place is free.
  const cookie = `${cookies[0]!.name}=${cookies[0]!.value}`;
  const held: http.ClientRequest[] = [];
  const hold = () =>
    new Promise<number>((resolve, reject) => {
      const { hostname, port } = new URL(url);
      const req = http.get({ host: hostname, port, path: '/events', headers: { cookie }, agent: false }, (res) => {
        res.on('error', () => {});
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', () => {});
      req.once('response', () => held.push(req));
      req.once('error', reject);
    });
  while ((await hold()) === 200);
  held.pop()?.destroy(); // the 503 one
  const late = await context.newPage();
  late.on('pageerror', (err) => errors.push(err.message));
  await late.goto(`${url}/`);
  await late.waitForSelector('body[data-ready="true"]');
  await late.waitForSelector('#live.off');
  held.shift()!.destroy();
  await late.waitForSelector('#live.on', { timeout: 15_000 });
  for (const req of held) req.destroy();

  assert.deepEqual(errors, [], 'no script errors on the pages');
});
