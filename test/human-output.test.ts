/**
 * Human output of issue 7: the relative `Next Run` of `job list` (pure, fixed dates), the
 * option-value rule of flag-values.ts on yargs' own option tables, and shell completion
 * through the real CLI process (bin/globus-timer.js), which must never start or contact the
 * daemon.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import yargs from 'yargs';
import { flagValueProblem, type OptionTypes } from '../src/cli/flag-values.ts';
import { loginCommand } from '../src/core/scopes.ts';
import { formatSpan, inactiveReasonLine, jobTable, nextRunText } from '../src/cli/output.ts';
import type { JobDocument } from '../src/contract/protocol.ts';
import { ROOT, runCliProcess } from './support/env.ts';

const NOW = Date.parse('2026-03-14T12:00:00Z');
const at = (offsetMs: number) => new Date(NOW + offsetMs).toISOString().replace('Z', '+00:00');

test('formatSpan: the two largest units, truncated, seconds rounded up', () => {
  const cases: [number, string][] = [
    [1, '1s'],
    [999, '1s'],
    [1000, '1s'],
    [1001, '2s'],
    [45_000, '45s'],
    [59_000, '59s'],
    [60_000, '1m'],
    [61_000, '1m 1s'],
    [3_599_000, '59m 59s'],
    [3_600_000, '1h'],
    [3 * 3_600_000 + 12 * 60_000 + 59_000, '3h 12m'],
    [3 * 3_600_000 + 5_000, '3h'],
    [86_400_000, '1d'],
    [86_400_000 + 4 * 3_600_000 + 59 * 60_000, '1d 4h'],
    [400 * 86_400_000, '400d'],
  ];
  for (const [ms, text] of cases) assert.equal(formatSpan(ms), text, `${ms} ms`);
});

test('nextRunText: relative to now; paused when paused, inactive when Auth stopped it; - when none', () => {
  const cases: [Pick<JobDocument, 'status' | 'next_run'> & { inactive_reason?: JobDocument['inactive_reason'] }, string][] = [
    [{ status: 'loaded', next_run: at(3 * 3_600_000 + 12 * 60_000 + 30_000) }, 'in 3h 12m'],
    [{ status: 'loaded', next_run: at(45_000) }, 'in 45s'],
    [{ status: 'loaded', next_run: at(300) }, 'in 1s'],
    [{ status: 'loaded', next_run: at(0) }, 'now'],
    [{ status: 'loaded', next_run: at(-999) }, 'now'],
    [{ status: 'loaded', next_run: at(-1000) }, 'overdue 1s'],
    [{ status: 'loaded', next_run: at(-2_500) }, 'overdue 2s'],
    [{ status: 'loaded', next_run: at(-(2 * 86_400_000 + 5 * 3_600_000)) }, 'overdue 2d 5h'],
    [{ status: 'loaded', next_run: '2026-03-15T15:30:00+01:00' }, 'in 1d 2h'], // 1d 2h 30m, offset honoured
    [{ status: 'inactive', next_run: null, inactive_reason: { cause: 'user', detail: 'maintenance' } }, 'paused'],
    [{ status: 'inactive', next_run: null, inactive_reason: { cause: 'user' } }, 'paused'],
    [{ status: 'inactive', next_run: null, inactive_reason: { cause: 'globus_auth_requirements', detail: { code: 'LoginRequired' } } }, 'inactive'],
    [{ status: 'finished', next_run: null }, '-'],
    [{ status: 'deleted', next_run: null }, '-'],
    [{ status: 'loaded', next_run: null }, '-'],
  ];
  for (const [job, text] of cases) assert.equal(nextRunText({ inactive_reason: null, ...job }, NOW), text, JSON.stringify(job));
});

test('jobTable: Next Run is the last column, as wide as its widest cell', () => {
  const base = { name: 'n', status: 'loaded', results: { data: [], page_next: null } } as unknown as JobDocument;
  const text = jobTable(
    [
      { ...base, job_id: 'a', next_run: at(90_000) },
      { ...base, job_id: 'b', status: 'inactive', next_run: null, inactive_reason: { cause: 'user' } },
    ],
    NOW,
  );
  assert.equal(
    text,
    [
      'Name | Job ID | Status   | Last Result | Next Run', //
      '-----|--------|----------|-------------|----------',
      'n    | a      | loaded   | NOT RUN     | in 1m 30s',
      'n    | b      | inactive | NOT RUN     | paused',
    ].join('\n'),
  );
});

/** yargs' option table of a small command line, as the middleware sees it. */
function optionsOf(build: (y: ReturnType<typeof yargs>) => ReturnType<typeof yargs>): OptionTypes {
  return (build(yargs([])) as unknown as { getOptions(): OptionTypes }).getOptions();
}

test('flagValueProblem: booleans take no value, value options need one; everything else is left to yargs', () => {
  const opts = optionsOf((y) =>
    y
      .option('dry-run', { type: 'boolean' })
      .option('verbose', { alias: 'v', type: 'boolean' })
      .option('format', { choices: ['text', 'json'] })
      .option('lines', { alias: 'n', type: 'number' })
      .option('name', { type: 'string' })
      .option('item', { type: 'string', nargs: 3 })
      .option('tag', { type: 'string', array: true }),
  );
  const cases: [string[], string | null][] = [
    [['x', '--dry-run'], null],
    [['x', '--no-dry-run'], null],
    [['x', '--dry-run=yes'], '--dry-run takes no value: write --dry-run or --no-dry-run'],
    [['x', '--dry-run', 'false'], '--dry-run takes no value: write --dry-run or --no-dry-run'],
    [['x', '--no-dry-run=1'], '--no-dry-run takes no value: write --dry-run or --no-dry-run'],
    [['x', '--dryRun=1'], '--dryRun takes no value: write --dry-run or --no-dry-run'],
    [['x', '-v=2'], '-v takes no value: write -v (--verbose) or --no-verbose'],
    [['x', '-v2'], '-v takes no value: write -v (--verbose) or --no-verbose'],
    [['x', '-v', 'true'], '-v takes no value: write -v (--verbose) or --no-verbose'],
    [['x', '-vn', '5'], null],
    [['x', '-vn'], '-n needs a value'],
    [['x', '-n5'], null],
    [['x', '-n', '-5'], null],
    [['x', '-n=5'], null],
    [['x', '--format'], '--format needs a value (text or json)'],
    [['x', '--format', '-v'], '--format needs a value (text or json)'],
    [['x', '--format=json'], null],
    [['x', '--format='], null], // an explicit empty value: yargs' choices refuse it
    [['x', '--name', ''], null], // an explicit empty value: the command's own rule refuses it
    [['x', '--name', '--dry-run=yes'], '--name needs a value'],
    [['x', '--tag'], '--tag needs a value'],
    [['x', '--tag', 'a', 'b'], null],
    [['x', '--item'], null], // nargs: yargs counts the values itself
    [['x', '--unknown=1', '--other'], null], // unknown: strict mode reports it
    [['x', '--', '--dry-run=yes'], null], // after --: not options
  ];
  for (const [args, problem] of cases) assert.equal(flagValueProblem(args, opts), problem, args.join(' '));
});

/** A home with autostart on: if completion reached for the daemon, one would start here. */
function homeEnv(t: test.TestContext): { home: string; env: NodeJS.ProcessEnv } {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-'));
  t.after(() => fs.rmSync(home, { recursive: true, force: true }));
  const env: NodeJS.ProcessEnv = { ...process.env, GLOBUS_TIMER_HOME: home, SHELL: '/bin/bash' };
  delete env.GLOBUS_TIMER_NO_AUTOSTART;
  return { home, env };
}

test('completion: the script, and --get-yargs-completions from the command tree alone', async (t) => {
  const { home, env } = homeEnv(t);
  const script = await runCliProcess(['completion'], env);
  assert.equal(script.code, 0, script.stderr);
  assert.equal(script.stderr, '');
  assert.match(script.stdout, /^###-begin-globus-timer-completions-###$/m);
  assert.match(script.stdout, /globus-timer --get-yargs-completions "\$\{args\[@\]\}"/);
  assert.match(script.stdout, /^complete -o bashdefault -o default -F _globus-timer_yargs_completions globus-timer$/m);
  const zsh = await runCliProcess(['completion'], { ...env, SHELL: '/usr/bin/zsh' });
  assert.equal(zsh.code, 0, zsh.stderr);
  assert.match(zsh.stdout, /^#compdef globus-timer$/m);

  // What the shell asks (the words so far, the program's name first).
  const ask = async (...words: string[]) => {
    const r = await runCliProcess(['--get-yargs-completions', 'globus-timer', ...words], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', `${words.join(' ')}: ${r.stderr}`);
    return r.stdout.split('\n').filter(Boolean);
  };
  const top = await ask('');
  for (const c of ['job', 'session', 'daemon', 'completion']) assert.ok(top.includes(c), `top level: ${top.join(' ')}`);
  const job = await ask('job', 's');
  for (const c of ['submit', 'status']) assert.ok(job.includes(c), `job s: ${job.join(' ')}`);
  // Subcommands other parts of issue 7 add show up once registered (pause, run, …).
  assert.ok(job.includes('resume'), job.join(' '));
  const daemon = await ask('daemon', '');
  for (const c of ['start', 'stop', 'status', 'logs', 'install']) assert.ok(daemon.includes(c), `daemon: ${daemon.join(' ')}`);
  const flags = await ask('job', 'list', '--');
  for (const c of ['--show-deleted', '--verbose', '--format']) assert.ok(flags.includes(c), `job list --: ${flags.join(' ')}`);

  // Never started or contacted a daemon: nothing in its home.
  assert.deepEqual(fs.readdirSync(home), [], 'completion touched the state directory');
});

test('completion: the bash script completes `globus-timer job s` through the real CLI', async (t) => {
  const bash = spawnSync('bash', ['--version'], { encoding: 'utf8' });
  if (bash.status !== 0) return t.skip('bash is not installed');
  const { home, env } = homeEnv(t);
  // `globus-timer` on PATH, as after `npm install -g` or `npm link`.
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-bin-'));
  t.after(() => fs.rmSync(bin, { recursive: true, force: true }));
  fs.symlinkSync(path.join(ROOT, 'bin/globus-timer.js'), path.join(bin, 'globus-timer'));
  const script = [
    'source <(globus-timer completion)',
    'COMP_WORDS=(globus-timer job s); COMP_CWORD=2',
    '_globus-timer_yargs_completions',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell text, where ${…} is the shell's own
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n');
  const r = spawnSync('bash', ['-c', script], { env: { ...env, PATH: `${bin}:${env.PATH}` }, encoding: 'utf8', cwd: ROOT });
  assert.equal(r.status, 0, r.stderr);
  const offered = r.stdout.split('\n').filter(Boolean).sort();
  assert.ok(offered.includes('submit') && offered.includes('status'), offered.join(' '));
  assert.ok(
    offered.every((w) => w.startsWith('s')),
    `only words starting with s: ${offered.join(' ')}`,
  );
  assert.deepEqual(fs.readdirSync(home), [], 'completion touched the state directory');
});

/**
 * Runs a printed command line with sh, as pasting it would, with a `globus-timer` first on
 * PATH that prints its arguments one per line, then `--`.
 */
function argumentsOf(commandLine: string, dir: string): string[] {
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  fs.writeFileSync(path.join(bin, 'globus-timer'), '#!/bin/sh\nprintf \'%s\\n\' "$@"; echo --\n', { mode: 0o755 });
  const r = spawnSync('sh', ['-c', commandLine], {
    encoding: 'utf8',
    cwd: dir,
    env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` },
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').slice(0, -1);
}

test('a provider-supplied scope in a printed `session login` line is one inert shell word (issue 11 item 6)', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-sh-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const pwned = path.join(dir, 'pwned');
  const scope = `x' ; touch ${pwned} ; echo '`;

  // The fix `job status` prints for a job Globus Auth stopped, with the scope it was given.
  const job = {
    job_id: 'J1',
    status: 'inactive',
    scope,
    inactive_reason: { cause: 'globus_auth_requirements', detail: { code: 'ConsentRequired', authorization_parameters: { required_scopes: [scope] } } },
  } as unknown as JobDocument;
  const line = inactiveReasonLine(job)!;
  const fix = line.slice(line.indexOf('fix: ') + 'fix: '.length);
  assert.deepEqual(argumentsOf(fix, dir), ['session', 'login', '--scope', scope, '--', 'job', 'resume', 'J1', '--']);
  // The command the consent errors print.
  assert.deepEqual(argumentsOf(loginCommand([scope, 'openid']), dir), ['session', 'login', '--scope', scope, '--scope', 'openid', '--']);
  assert.equal(fs.existsSync(pwned), false, 'the scope ran a command');
});
