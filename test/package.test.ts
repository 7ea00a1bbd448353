/**
 * The package as a user gets it (issue 13): `npm pack` a copy of this checkout without its
 * build (prepare bundles src/ as it packs), install the tarball into a temporary prefix, and
 * drive the installed `globus-timer` from there: --version, daemon start, job list, job
 * submit, daemon stop. That proves the tarball holds all the CLI and the daemon need at run
 * time (the bundle, the migrations, package.json) and nothing of src/, scripts/ or the dev
 * dependencies (tsx). Slow: better-sqlite3 compiles from source in the prefix, 2 to 5
 * minutes. The registry is the only network it needs (--prefer-offline: npm's cache first).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { isProcessAlive } from '../src/fs/daemon-lock.ts';
import { ROOT, tempHome } from './support/env.ts';

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function run(command: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<Ran> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const proc = spawn(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    proc.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    proc.on('error', reject);
    proc.on('close', (code) => resolve({ code, stdout, stderr, ms: performance.now() - started }));
  });
}

function assertRan(r: Ran, what: string): void {
  assert.equal(r.code, 0, `${what} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
}

function tempDir(t: TestContext, prefix: string): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * npm's environment for a script it runs (`npm test`): what describes this checkout would
 * point the nested npm at it (npm_config_local_prefix above all). The user's own npm
 * settings (registry, cache, nodedir…) stay.
 */
function npmEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^npm_(lifecycle_|package_|command$|config_local_prefix$)/i.test(k) && k !== 'INIT_CWD'),
  );
}

/** What a fresh clone holds: everything but the build, the installed modules (linked: they are read-only here) and git. */
function copyCheckout(to: string): void {
  const skipped = new Set(['.git', 'node_modules', 'dist', '.tmp']);
  for (const entry of fs.readdirSync(ROOT)) {
    if (skipped.has(entry) || entry.endsWith('.sqlite')) continue;
    fs.cpSync(path.join(ROOT, entry), path.join(to, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(to, 'node_modules'), 'dir');
}

interface Packed {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: { path: string }[];
}

test('the bin of a checkout that was never built says, in one line, to run npm run build', async (t) => {
  const dir = tempDir(t, 'gt-nobuild-');
  fs.cpSync(path.join(ROOT, 'bin'), path.join(dir, 'bin'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  const r = await run(process.execPath, [path.join(dir, 'bin/globus-timer.js'), 'job', 'list'], { cwd: dir });
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, `globus-timer: the CLI is not built (no dist/cli/main.js); run \`npm run build\` in ${dir}\n`);
});

test('the packed tarball installs into a fresh prefix and its globus-timer runs a daemon', { timeout: 15 * 60_000 }, async (t) => {
  const stage = tempDir(t, 'gt-pack-');
  const checkout = path.join(stage, 'checkout');
  fs.mkdirSync(checkout);
  copyCheckout(checkout);

  const pack = await run('npm', ['pack', '--json', '--pack-destination', stage], { cwd: checkout, env: npmEnv() });
  assertRan(pack, 'npm pack');
  const [packed] = JSON.parse(pack.stdout) as Packed[];
  assert.ok(packed);
  const files = packed.files.map((f) => f.path);
  t.diagnostic(
    `npm pack: ${packed.filename}, ${packed.size} bytes (${packed.unpackedSize} unpacked), ${packed.entryCount} files, ${(pack.ms / 1000).toFixed(1)} s`,
  );
  for (const dir of ['src/', 'scripts/', 'test/', 'bench/', 'torture/', 'node_modules/']) {
    assert.deepEqual(
      files.filter((f) => f.startsWith(dir)),
      [],
      `the tarball holds ${dir}`,
    );
  }
  assert.deepEqual(
    files.filter((f) => f.endsWith('.map') || f.endsWith('.ts')),
    [],
    'the tarball holds source maps or TypeScript',
  );
  const migrations = fs
    .readdirSync(path.join(ROOT, 'drizzle'))
    .filter((f) => f.endsWith('.sql'))
    .map((f) => `drizzle/${f}`);
  for (const want of [
    'package.json',
    'LICENSE',
    'bin/globus-timer.js',
    'dist/cli/main.js',
    'dist/cli/dashboard/index.html',
    'drizzle/meta/_journal.json',
    ...migrations,
  ]) {
    assert.ok(files.includes(want), `the tarball lacks ${want}: ${files.join(', ')}`);
  }

  // The prefix's own package.json lets better-sqlite3 build (npm 11 warns about install
  // scripts no allowScripts entry covers); globus-timer's prepare never runs from a tarball.
  const prefix = path.join(stage, 'prefix');
  fs.mkdirSync(prefix);
  fs.writeFileSync(path.join(prefix, 'package.json'), JSON.stringify({ private: true, allowScripts: { 'better-sqlite3': true, 'globus-timer': false } }));
  const install = await run('npm', ['install', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', path.join(stage, packed.filename)], {
    cwd: stage,
    env: npmEnv(),
  });
  assertRan(install, 'npm install');
  t.diagnostic(`npm install of the tarball: ${(install.ms / 1000).toFixed(1)} s`);
  const installed = path.join(prefix, 'node_modules', 'globus-timer');
  for (const dev of ['tsx', 'esbuild', 'typescript']) assert.ok(!fs.existsSync(path.join(prefix, 'node_modules', dev)), `${dev} was installed`);
  assert.ok(!fs.existsSync(path.join(installed, 'src')), 'the installed package has src/');

  // Through the link npm made, as a user's shell runs it (shebang, mode), from an unrelated directory.
  const bin = path.join(prefix, 'node_modules', '.bin', 'globus-timer');
  const { home, paths, env } = tempHome(t);
  const cli = (...args: string[]) => run(bin, args, { cwd: home, env });
  let daemonPid: number | undefined;
  t.after(() => {
    // `daemon stop` failed: leave no daemon behind (only the one this test started).
    if (daemonPid !== undefined && isProcessAlive(daemonPid)) process.kill(daemonPid, 'SIGKILL');
  });

  const version = await cli('--version');
  assertRan(version, 'globus-timer --version');
  assert.equal(version.stdout, `${(JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version}\n`);

  const start = await cli('daemon', 'start');
  assertRan(start, 'globus-timer daemon start');
  daemonPid = Number(fs.readFileSync(paths.lockFile, 'utf8').trim());
  assert.ok(Number.isInteger(daemonPid) && daemonPid > 0, `pid file: ${daemonPid}`);
  assert.match(start.stdout, new RegExp(`daemon started \\(pid ${daemonPid}\\)`));
  // The daemon runs the installed bin (what the service units run too), not this checkout's.
  if (fs.existsSync(`/proc/${daemonPid}/cmdline`)) {
    const argv = fs.readFileSync(`/proc/${daemonPid}/cmdline`, 'utf8').split('\0');
    assert.deepEqual(argv.slice(1, 4), [path.join(installed, 'bin', 'globus-timer.js'), 'daemon', 'run']);
  }

  const list = await cli('job', 'list', '--format', 'json');
  assertRan(list, 'globus-timer job list');
  assert.deepEqual(JSON.parse(list.stdout), []);
  // It migrated its database from the shipped drizzle/ folder.
  assert.ok(fs.existsSync(paths.dbFile));
  // What the bundle loads lazily from node_modules by require (croner for --cron, ajv for the
  // action body: src/core/calendar.ts, run-request.ts) resolves from the installed package.
  const submit = await cli(
    'job',
    'submit',
    '--name',
    'nightly',
    '--cron',
    '0 2 * * *',
    '--timezone',
    'Europe/Berlin',
    '--action-url',
    'http://127.0.0.1:9/run',
    '--action-body',
    '{"body": {"n": 1}}',
    '--no-scope',
    '--format',
    'json',
  );
  assertRan(submit, 'globus-timer job submit');
  const job = JSON.parse(submit.stdout) as { job_id: string; cron: string };
  assert.equal(job.cron, '0 2 * * *');
  const listed = await cli('job', 'list', '--format', 'json');
  assertRan(listed, 'globus-timer job list');
  assert.deepEqual(
    (JSON.parse(listed.stdout) as { job_id: string }[]).map((j) => j.job_id),
    [job.job_id],
  );

  const stop = await cli('daemon', 'stop');
  assertRan(stop, 'globus-timer daemon stop');
  assert.equal(isProcessAlive(daemonPid), false, 'the daemon still runs after daemon stop');
  t.diagnostic(
    `installed globus-timer: --version ${version.ms.toFixed(0)} ms, daemon start ${start.ms.toFixed(0)} ms, job list ${list.ms.toFixed(0)} ms, job submit ${submit.ms.toFixed(0)} ms, daemon stop ${stop.ms.toFixed(0)} ms`,
  );
});
