/**
 * What a new user meets first (issue 12 items 13–15), through the real CLI as a subprocess
 * (bin/globus-timer.js): yargs' and the system's errors as one line in our words, each with
 * its exact text and exit code; help with a command's own options before the global ones;
 * completion; tables aligned by display width. In-process only: sendRequest, the one place a
 * failed request (to Globus Auth or a provider) is worded.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import test, { type TestContext } from 'node:test';
import stringWidth from 'string-width';
import { getGlobalDispatcher } from 'undici';
import { startDaemon } from '../src/daemon/daemon.ts';
import { sendRequest } from '../src/http/request.ts';
import { silentLogger } from '../src/log/logger.ts';
import { startFakeAuth } from './support/auth.ts';
import { runCliProcess, tempHome, testConfig, TEST_TOKEN_RULES, type CliResult } from './support/env.ts';

/** A home of its own, autostart off: no message below may depend on a daemon starting. */
function home(t: TestContext): { dir: string; env: NodeJS.ProcessEnv } {
  const { home: dir, env } = tempHome(t);
  return { dir, env: { ...env, GLOBUS_TIMER_NO_AUTOSTART: '1' } };
}

/** Exactly one stderr line, this exit code, nothing on stdout. */
function assertOneLine(r: CliResult, code: number, line: string | RegExp, what: string): void {
  assert.equal(r.code, code, `${what}: exit code (stderr ${JSON.stringify(r.stderr)})`);
  assert.equal(r.stdout, '', `${what}: stdout`);
  if (typeof line === 'string') assert.equal(r.stderr, `globus-timer: ${line}\n`, what);
  else assert.match(r.stderr, line, what);
}

const SUBMIT = ['job', 'submit', '--name', 'n', '--interval', '1h', '--no-scope', '--action-url', 'https://actions.example.org/run'];
const BODY = ['--action-body', '{"body": {}}'];

test("yargs' usage errors: one line in our words, naming the command's --help, exit 2", async (t) => {
  const { env } = home(t);
  const cases: [string[], string][] = [
    [['frobnicate'], "unknown command 'frobnicate'; see globus-timer --help"],
    [['job', 'frobnicate'], "unknown command 'job frobnicate'; see globus-timer job --help"],
    [['jbo', 'list'], "unknown command 'jbo' (did you mean 'job'?); see globus-timer --help"],
    [['job', 'sumbit'], "unknown command 'job sumbit' (did you mean 'job submit'?); see globus-timer job --help"],
    [['job', 'delete'], 'missing JOB_ID; see globus-timer job delete --help'],
    [['job', 'submit'], 'missing --name and --action-url; see globus-timer job submit --help'],
    [['job', 'submit', '--name', 'x'], 'missing --action-url; see globus-timer job submit --help'],
    [[...SUBMIT, ...BODY, '--action-file', 'body.json'], '--action-body and --action-file cannot be given together; see globus-timer job submit --help'],
    [['daemon', 'install', '--systemd', '--launchd'], '--systemd and --launchd cannot be given together; see globus-timer daemon install --help'],
    [['job', 'list', '--bogus'], 'unknown option --bogus; see globus-timer job list --help'],
    [['job', 'list', '-z'], 'unknown option -z; see globus-timer job list --help'],
    [['job', 'list', 'extra'], "unexpected argument 'extra'; see globus-timer job list --help"],
    [['job', 'list', '--format', 'xml'], '--format must be text or json, not "xml"; see globus-timer job list --help'],
    [
      ['job', 'transfer', '--name', 'n', '--interval', '1h', '--source-endpoint', 'a', '--dest-endpoint', 'b', '--item', '/a/'],
      '--item needs 3 values; see globus-timer job transfer --help',
    ],
  ];
  const results = await Promise.all(cases.map(([args]) => runCliProcess(args, env)));
  for (const [i, [args, line]] of cases.entries()) assertOneLine(results[i]!, 2, line, args.join(' '));
});

test('--action-file that cannot be read: the reason in words, exit 2', async (t) => {
  const { dir, env } = home(t);
  const locked = path.join(dir, 'locked.json');
  fs.writeFileSync(locked, '{"body": {}}', { mode: 0o000 });
  const cases: [string, string, boolean][] = [
    [path.join(dir, 'x.json'), 'no such file', true],
    [dir, 'is a directory', true],
    // root reads a file whatever its mode
    [locked, 'permission denied', process.getuid?.() !== 0],
  ];
  for (const [file, words, applies] of cases) {
    if (!applies) {
      t.diagnostic(`not checked as root: ${words}`);
      continue;
    }
    const r = await runCliProcess([...SUBMIT, '--action-file', file], env);
    assertOneLine(r, 2, `cannot read --action-file ${file}: ${words}`, words);
  }
});

test('a URL with a password is echoed without it', async (t) => {
  const { env } = home(t);
  const cases: [string, string][] = [
    [
      'https://alice:hunter2@actions.example.org/run',
      'invalid action URL "https://alice:***@actions.example.org/run": credentials do not belong in the URL; use --scope',
    ],
    [
      'ftp://alice:hunter2@actions.example.org/run',
      'invalid action URL "ftp://alice:***@actions.example.org/run": it must use https (plain http only to a loopback address)',
    ],
    [
      'https://alice:hunter2@exa mple.org/run',
      'invalid action URL "https://alice:***@exa mple.org/run": give a full URL such as https://transfer.actions.globus.org/transfer/run',
    ],
  ];
  for (const [url, line] of cases) {
    const r = await runCliProcess(['job', 'submit', '--name', 'n', '--interval', '1h', '--no-scope', '--action-url', url, ...BODY], env);
    assertOneLine(r, 2, line, url);
    assert.equal(r.stderr.includes('hunter2'), false);
  }
});

test('a provider that cannot be introspected: cannot reach it, and both ways out (--scope, --no-scope)', async (t) => {
  const { env } = home(t);
  // Port 9 (discard) on loopback: nothing listens there in a test environment.
  const r = await runCliProcess(['job', 'submit', '--name', 'n', '--interval', '1h', '--action-url', 'http://127.0.0.1:9/run', ...BODY], env);
  assertOneLine(
    r,
    1,
    'cannot read the Globus Auth scope of http://127.0.0.1:9/ (cannot reach 127.0.0.1:9: connection refused (ECONNREFUSED)); give it with --scope SCOPE, or --no-scope if the provider takes no token',
    'introspection',
  );
});

// `.invalid` never resolves (RFC 2606): ENOTFOUND, or EAI_AGAIN where there is no DNS at all.
const NO_AUTH = 'https://alice:hunter2@auth.invalid';
const CANNOT_REACH_AUTH = 'cannot reach auth\\.invalid: check the network \\((ENOTFOUND|EAI_AGAIN)\\)';

test('Globus Auth out of reach: session login, whoami and a token refresh say so in one line, exit 1', async (t) => {
  const { env } = home(t);
  const auth = await startFakeAuth();
  t.after(() => auth.close());
  const loginAt = (authUrl: string) =>
    runCliProcess(['session', 'login', '--no-browser'], { ...env, GLOBUS_SDK_SERVICE_URL_AUTH: authUrl }, (stdout) => {
      const url = /https?:\/\/\S+\/v2\/oauth2\/authorize\?\S+/.exec(stdout)?.[0];
      return url ? (authUrl === auth.baseUrl ? auth.approve(url) : 'any-code') : undefined;
    });

  // The code is asked for on stderr; the error is the one line after it.
  const login = await loginAt(NO_AUTH);
  assert.equal(login.code, 1, login.stderr);
  assert.match(login.stderr, new RegExp(`^Enter the resulting Authorization Code here: globus-timer: ${CANNOT_REACH_AUTH}\\n$`));

  // Logged in for real; then Auth is gone: whoami (its token still valid) cannot ask it.
  assert.equal((await loginAt(auth.baseUrl)).code, 0);
  const away = { ...env, GLOBUS_SDK_SERVICE_URL_AUTH: NO_AUTH };
  const whoami = await runCliProcess(['session', 'whoami'], away);
  assertOneLine(whoami, 1, new RegExp(`^globus-timer: ${CANNOT_REACH_AUTH}\\n$`), 'whoami');

  // Tokens that expire within the CLI's refresh margin: whoami refreshes first.
  auth.expiresInSeconds = 5;
  assert.equal((await loginAt(auth.baseUrl)).code, 0);
  const refresh = await runCliProcess(['session', 'whoami'], away);
  assertOneLine(refresh, 1, new RegExp(`^globus-timer: refreshing the token for auth\\.globus\\.org failed: ${CANNOT_REACH_AUTH}\\n$`), 'refresh');
  for (const r of [login, whoami, refresh]) assert.equal(r.stderr.includes('hunter2'), false);
});

test('a failed request is worded in one place: cannot reach HOST, or the request without its password', async (t) => {
  const server = http.createServer((req, res) => (req.url === '/reset' ? req.socket.destroy() : res.end('x'.repeat(5000))));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  const send = (url: string) => sendRequest('GET', url, { headers: {} }, { dispatcher: getGlobalDispatcher(), timeoutMs: 10_000, maxResponseBytes: 100 });
  const cases: [string, string | RegExp][] = [
    [`http://alice:hunter2@127.0.0.1:${port}/`, `GET http://alice:***@127.0.0.1:${port}/: response larger than 100 bytes`],
    [`http://alice:hunter2@127.0.0.1:${port}/reset`, `GET http://alice:***@127.0.0.1:${port}/reset: other side closed (UND_ERR_SOCKET)`],
    ['http://alice:hunter2@127.0.0.1:9/run', 'cannot reach 127.0.0.1:9: connection refused (ECONNREFUSED)'],
    ['https://alice:hunter2@auth.invalid/v2/oauth2/token', new RegExp(`^${CANNOT_REACH_AUTH}$`)],
  ];
  for (const [url, message] of cases) {
    const outcome = await send(url);
    assert.equal(outcome.kind, 'transport', url);
    if (outcome.kind !== 'transport') continue;
    if (typeof message === 'string') assert.equal(outcome.message, message);
    else assert.match(outcome.message, message);
  }
});

/** The lines of a help text from `heading` to the next blank line. */
function section(help: string, heading: string): string[] {
  const lines = help.split('\n');
  const start = lines.indexOf(heading);
  if (start === -1) return [];
  const end = lines.indexOf('', start);
  return lines.slice(start + 1, end === -1 ? undefined : end);
}

const GLOBAL_FLAGS = ['--format', '--autostart', '--help', '--version'];

test("help: a command's own options first, then the global ones", async (t) => {
  const { env } = home(t);
  const submit = await runCliProcess(['job', 'submit', '--help'], env);
  assert.equal(submit.code, 0, submit.stderr);
  const own = section(submit.stdout, 'Options:').join('\n');
  const global = section(submit.stdout, 'Global options:').join('\n');
  assert.ok(submit.stdout.indexOf('\nOptions:\n') < submit.stdout.indexOf('\nGlobal options:\n'), submit.stdout);
  for (const flag of ['--name', '--interval', '--action-url', '--action-file', '--scope', '--verbose']) assert.match(own, new RegExp(`${flag}\\b`), flag);
  for (const flag of GLOBAL_FLAGS) {
    assert.match(global, new RegExp(`${flag}\\b`), flag);
    assert.doesNotMatch(own, new RegExp(`${flag}\\b`), `${flag} among the command's own options`);
  }
  assert.doesNotMatch(submit.stdout, /own-options-first/);
});

test('help: every positional of every command is described', async (t) => {
  const { env } = home(t);
  const groups = ['job', 'session', 'daemon'];
  const listed = await Promise.all(groups.map((g) => runCliProcess([g, '--help'], env)));
  const commands = listed.flatMap((r, i) => [...r.stdout.matchAll(new RegExp(`^  globus-timer ${groups[i]} (\\S+)`, 'gm'))].map((m) => [groups[i]!, m[1]!]));
  assert.ok(commands.length >= 15, JSON.stringify(commands));
  const helps = await Promise.all(commands.map((c) => runCliProcess([...c, '--help'], env)));
  helps.forEach((r, i) => {
    const what = commands[i]!.join(' ');
    assert.equal(r.code, 0, `${what}: ${r.stderr}`);
    // A positional's own line (not a wrapped continuation): its name, then words before any `[type]`.
    const own = section(r.stdout, 'Positionals:').filter((line) => /^ {2}\S/.test(line));
    for (const line of own) assert.match(line, /^ {2}\S+ {2,}[^\s[]/, `${what}: undescribed positional ${JSON.stringify(line)}`);
  });
});

test('completion --help prints help, not the script', async (t) => {
  const { env } = home(t);
  const help = await runCliProcess(['completion', '--help'], env);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^globus-timer completion\n\nPrint a bash\/zsh completion script/);
  assert.doesNotMatch(help.stdout, /###-begin/);
  const script = await runCliProcess(['completion'], env);
  assert.match(script.stdout, /^###-begin-globus-timer-completions-###\n/);
  assert.match(script.stdout, /^# Installation: globus-timer completion >> ~\/\.bashrc$/m);
});

test('completion offers --no-scope for job submit, and the --no- form of booleans that default to true', async (t) => {
  const { env } = home(t);
  const complete = async (...words: string[]) => (await runCliProcess(['--get-yargs-completions', 'globus-timer', ...words], env)).stdout.split('\n');
  const [submit, login, list] = await Promise.all([complete('job', 'submit', '--'), complete('session', 'login', '--'), complete('job', 'list', '--')]);
  assert.ok(submit.includes('--scope') && submit.includes('--no-scope'), submit.join(' '));
  assert.ok(submit.includes('--no-autostart'), submit.join(' '));
  assert.ok(!login.includes('--no-scope'), `session login --scope has no --no- form: ${login.join(' ')}`);
  assert.ok(login.includes('--no-browser'), login.join(' '));
  assert.ok(!list.includes('--no-scope'), list.join(' '));
});

test('job list aligns its columns by display width (CJK, emoji, combining marks)', async (t) => {
  const { paths, env: base } = tempHome(t);
  const env = { ...base, GLOBUS_TIMER_NO_AUTOSTART: '1' };
  const daemon = await startDaemon({ paths, config: testConfig(), log: silentLogger(), tokenRules: TEST_TOKEN_RULES });
  t.after(() => daemon.stop());
  const names = ['データ転送', '👩‍🔬 backup', 'e\u0301', 'plain'];
  for (const name of names) {
    daemon.service.submit({
      name,
      start: '2099-01-01T00:00:00Z',
      interval_seconds: 3600,
      callback_url: 'https://actions.example.org/run',
      callback_body: { body: {} },
    });
  }
  const r = await runCliProcess(['job', 'list'], env);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 2 + names.length, r.stdout);
  // The display column of each `|` (the separator line's `-|-` included) is the same on every line.
  const bars = (line: string) => [...line.matchAll(/\|/g)].map((m) => stringWidth(line.slice(0, m.index)));
  for (const line of lines) assert.deepEqual(bars(line), bars(lines[0]!), `misaligned: ${JSON.stringify(line)}\n${r.stdout}`);
  for (const name of names)
    assert.ok(
      lines.some((l) => l.startsWith(`${name} `)),
      name,
    );
});
