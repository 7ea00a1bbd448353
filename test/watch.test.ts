/**
 * Issue 16 items 1–2: following runs live. `job run --wait`, `job watch`, `job watch --all`,
 * `job history -f` as real CLI processes against a real daemon, whose loopback provider
 * reports a transfer's progress poll by poll; the lines they print, their exit statuses, a
 * watcher that goes away mid-run, a real pseudo-terminal for the live bar; and the
 * `events.subscribe` RPC itself on a raw socket.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { progressOf } from '../src/contract/events.ts';
import type { EventsNotification, RunEvent } from '../src/contract/protocol.ts';
import { changeLine, endLine, figures, liveLine, progressBar } from '../src/cli/watch/run-lines.ts';
import { shortSize } from '../src/util/byte-size.ts';
import { FAST_POLLING, ROOT, runCliProcess, startDaemonProcess, tempHome } from './support/env.ts';
import { readFixture, startFakeProvider } from './support/provider.ts';
import { cliThatSucceeds, submitJob } from './support/api.ts';

const FILES = 100;
const BYTES_PER_FILE = 10 * 1024 * 1024;
/** Polls that see the action ACTIVE before its end: the progress goes 0, 25, 50, 75 % of the files. */
const ACTIVE_POLLS = 4;

/** A Transfer task's `details` with `done` files of FILES moved (the recorded task's fields). */
function transferDetails(done: number, status: string): Record<string, unknown> {
  return {
    DATA_TYPE: 'task',
    type: 'TRANSFER',
    status,
    nice_status: status === 'ACTIVE' ? 'OK' : null,
    files: FILES,
    files_transferred: done,
    files_skipped: 0,
    bytes_transferred: done * BYTES_PER_FILE,
    effective_bytes_per_second: 50 * 1024 * 1024,
    subtasks_total: FILES,
    subtasks_succeeded: done,
    faults: 0,
  };
}

async function watchedDaemon(t: TestContext) {
  const ap = await startFakeProvider();
  t.after(() => ap.close());
  ap.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: ACTIVE_POLLS, final: 'SUCCEEDED' };
  ap.detailsAt = (pollsLeft, status) => transferDetails(status === 'SUCCEEDED' ? FILES : ((ACTIVE_POLLS - pollsLeft) * FILES) / ACTIVE_POLLS, status);
  const { env: base, paths } = tempHome(t);
  // Polls 150 ms apart, so each progress step is its own event.
  const env = { ...base, ...FAST_POLLING, GLOBUS_TIMER_POLL_INITIAL_MS: '150', GLOBUS_TIMER_POLL_MAX_MS: '150', GLOBUS_TIMER_NO_AUTOSTART: '1' };
  const daemon = await startDaemonProcess(t, env);
  const cli = cliThatSucceeds(env);
  const submit = (name: string) => submitJob(cli, name, ap.runUrl);
  return { ap, env, paths, daemon, cli, submit };
}

/** A CLI process left running (a watcher): its output so far, a wait for a line, its end. */
function startCli(args: string[], env: NodeJS.ProcessEnv) {
  const proc = spawn(process.execPath, [path.join(ROOT, 'bin/globus-timer.js'), ...args], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  proc.stdout.setEncoding('utf8').on('data', (c: string) => {
    stdout += c;
    for (const w of [...waiters]) if (w.re.test(stdout)) w.resolve();
  });
  proc.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
  return {
    proc,
    out: () => stdout,
    err: () => stderr,
    exited,
    /** Resolves once stdout matches `re`. */
    waitFor: (re: RegExp, timeoutMs = 15_000) =>
      new Promise<void>((resolve, reject) => {
        if (re.test(stdout)) return resolve();
        const timer = setTimeout(() => reject(new Error(`no ${re} in:\n${stdout}\n${stderr}`)), timeoutMs);
        waiters.push({
          re,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      }),
  };
}

test('progressOf reads the recorded Transfer task: files, bytes, rate, subtasks', () => {
  const recorded = readFixture<{ responses: { default: { json: { DATA: Record<string, unknown>[] } } } }>('transfer_task_list.json');
  const task = recorded.responses.default.json.DATA[0]!;
  const p = progressOf({ action_id: 'x', status: 'SUCCEEDED', details: task });
  assert.deepEqual(p, {
    status: 'SUCCEEDED',
    label: null,
    files_total: 1,
    files_done: 1,
    bytes_transferred: 4,
    bytes_per_second: 3,
    subtasks_total: 2,
    subtasks_done: 2,
    faults: 0,
  });
  // A provider that is not Transfer: its status only; a hostile one's odd values are no counts.
  assert.deepEqual(progressOf({ status: 'active', display_status: 'Running', details: { files: 'many', bytes_transferred: Number.NaN } }), {
    status: 'ACTIVE',
    label: 'Running',
    files_total: null,
    files_done: null,
    bytes_transferred: null,
    bytes_per_second: null,
    subtasks_total: null,
    subtasks_done: null,
    faults: null,
  });
  assert.equal(progressOf(null), null);
});

test('the bar and the figures of a run line', () => {
  assert.equal(progressBar(0, 8), '░░░░░░░░   0%');
  assert.equal(progressBar(0.5, 8), '████░░░░  50%');
  assert.equal(progressBar(1 / 16, 8), '▌░░░░░░░   6%');
  assert.equal(progressBar(1, 8), '████████ 100%');
  assert.equal(shortSize(512), '512 B');
  assert.equal(shortSize(1536), '1.5 KiB');
  assert.equal(shortSize(250 * BYTES_PER_FILE), '2.4 GiB');
  const progress = progressOf({ status: 'ACTIVE', details: transferDetails(42, 'ACTIVE') });
  assert.equal(figures(progress, false), '42/100 files · 420.0 MiB · 50.0 MiB/s');
  const run = {
    ran_at: '2026-12-07T02:00:00.003+00:00',
    status: 202,
    errors: null,
    slot: '2026-12-07T02:00:00.000+00:00',
    run_state: 'active' as const,
    action_id: 'a1',
    action_status: 'ACTIVE',
    request_id: 'r1',
    attempts: 1,
    completed_at: null,
    lateness_ms: 3,
    manual: false,
    summary: '',
  };
  const e: RunEvent = { type: 'run', job_id: 'j', job_name: 'nightly', run_id: 7, run, progress };
  const at = Date.parse('2026-12-07T02:01:23.003Z');
  assert.equal(liveLine(e, at), '⟳ nightly  ACTIVE (OK)  ██████████░░░░░░░░░░░░░░  42%  42/100 files · 420.0 MiB · 50.0 MiB/s  0:01:23');
  assert.equal(changeLine(e, at), '2026-12-07T02:01:23.003Z  nightly  ACTIVE (OK)  42/100 files · 420.0 MiB · 50.0 MiB/s  elapsed 0:01:23');
  const done: RunEvent = {
    ...e,
    run: { ...run, run_state: 'succeeded', action_status: 'SUCCEEDED', completed_at: '2026-12-07T02:02:10.003+00:00' },
    progress: progressOf({ status: 'SUCCEEDED', details: transferDetails(100, 'SUCCEEDED') }),
  };
  assert.equal(endLine(done), '✔ nightly  SUCCEEDED  100 files · 1000.0 MiB · 50.0 MiB/s  in 0:02:10  fired 3 ms after its slot');
});

test('job run --wait follows a transfer through its polls to SUCCEEDED (exit 0), one line per change', async (t) => {
  const { env, submit, ap } = await watchedDaemon(t);
  const id = await submit('nightly');
  const r = await runCliProcess(['job', 'run', id, '--wait'], env);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  const stamp = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z';
  for (const line of lines) assert.match(line, new RegExp(`^${stamp}  nightly  \\S`), line);
  // Every step the provider reported, in order, each once; then the end.
  const steps = lines.map((l) => /(\d+)\/100 files/.exec(l)?.[1] ?? (/SUCCEEDED {2}100 files/.test(l) ? 'end' : null)).filter((s) => s !== null);
  assert.deepEqual(steps, ['0', '25', '50', '75', '100', 'end'], r.stdout);
  assert.match(lines.at(-1)!, /SUCCEEDED {2}100 files · 1000\.0 MiB · 50\.0 MiB\/s {2}elapsed \d:\d\d:\d\d$/);
  assert.match(r.stderr, /run sent \(request [0-9a-f-]{36}\); following it to its end/);
  assert.equal(ap.runRequests().length, 1);
});

test('job run --wait exits 1 when the run FAILED, and --format json prints one event per change', async (t) => {
  const { env, submit, ap } = await watchedDaemon(t);
  const id = await submit('fails');
  ap.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 1, final: 'FAILED' };
  const r = await runCliProcess(['job', 'run', id, '--wait', '--format', 'json'], env);
  assert.equal(r.code, 1, r.stderr);
  const events = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as RunEvent);
  assert.ok(events.length >= 2, r.stdout);
  assert.ok(events.every((e) => e.type === 'run' && e.job_id === id && e.job_name === 'fails' && e.run_id === events[0]!.run_id));
  assert.equal(events.at(-1)!.run.run_state, 'failed');
  assert.equal(events.at(-1)!.progress?.status, 'FAILED');
  assert.ok(!('data' in events[0]!.run), 'events carry no provider document');
  // A run the provider refuses outright: exit 1 as well.
  ap.runReplies.push({ kind: 'raw', httpStatus: 400, body: { code: 'BadRequest', description: 'no such endpoint' } });
  const refused = await runCliProcess(['job', 'run', id, '--wait'], env);
  assert.equal(refused.code, 1, refused.stdout + refused.stderr);
  assert.match(refused.stdout, /FAILED .*no such endpoint/);
  // Its event tells the error's code and message, not the provider's error document (which may be a megabyte).
  ap.runReplies.push({ kind: 'raw', httpStatus: 400, body: { code: 'BadRequest', description: 'no such endpoint' } });
  const asJson = await runCliProcess(['job', 'run', id, '--wait', '--format', 'json'], env);
  const last = JSON.parse(asJson.stdout.trim().split('\n').at(-1)!) as RunEvent;
  assert.equal(last.run.run_state, 'failed');
  assert.equal(typeof last.run.errors?.code, 'string');
  assert.match(last.run.errors?.message ?? '', /no such endpoint/);
  assert.equal(last.run.errors?.providerError, undefined);
});

test('job watch follows the run in progress to its end; a paused job with none is exit 2', async (t) => {
  const { env, submit, cli, ap } = await watchedDaemon(t);
  ap.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 8, final: 'SUCCEEDED' };
  ap.detailsAt = null;
  const id = await submit('long');
  await cli('job', 'run', id);
  const r = await runCliProcess(['job', 'watch', id.slice(0, 8)], env);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0]!, /long {2}ACTIVE {2}/);
  assert.match(lines.at(-1)!, /long {2}SUCCEEDED {2}/);
  await cli('job', 'pause', id);
  const paused = await runCliProcess(['job', 'watch', id], env);
  assert.equal(paused.code, 2);
  assert.match(
    paused.stderr,
    /is inactive and has no run in progress: there is no run to watch \(resume it, or run it now with: globus-timer job run .* --wait\)/,
  );
  const both = await runCliProcess(['job', 'watch', id, '--all'], env);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /give a job ID or --all, not both/);
});

test('job watch waits for the next run when none is in progress, then follows it', async (t) => {
  const { env, cli, ap } = await watchedDaemon(t);
  ap.detailsAt = null;
  const start = new Date(Date.now() + 2_000).toISOString();
  const jobId = await submitJob(cli, 'soon', ap.runUrl, { interval: '1h', start });
  const r = await runCliProcess(['job', 'watch', jobId], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /waiting for the next run of soon at .* \(in \d+s\)/);
  assert.match(r.stdout.trim().split('\n').at(-1)!, /soon {2}SUCCEEDED/);
  assert.equal(ap.runRequests().length, 1);
});

test('a watcher that disconnects mid-run harms nothing: the run ends, the daemon answers, others keep watching', async (t) => {
  const { env, submit, cli, ap, daemon } = await watchedDaemon(t);
  ap.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 10, final: 'SUCCEEDED' };
  const id = await submit('kept');
  const all = startCli(['job', 'watch', '--all', '--format', 'json'], env);
  const quitter = startCli(['job', 'watch', id], env);
  t.after(() => all.proc.kill('SIGKILL'));
  // Give both time to subscribe before the run starts.
  await new Promise((r) => setTimeout(r, 300));
  await cli('job', 'run', id);
  await quitter.waitFor(/kept {2}ACTIVE/);
  quitter.proc.kill('SIGKILL');
  await quitter.exited;
  await all.waitFor(/"run_state":"succeeded"/, 20_000);
  const history = JSON.parse(await cli('job', 'history', id, '--format', 'json')) as { runs: { run_state: string }[] };
  assert.deepEqual(
    history.runs.map((r) => r.run_state),
    ['succeeded'],
  );
  assert.match(await cli('daemon', 'status'), /running/i);
  assert.doesNotMatch(daemon.log(), /"level":50/, 'no error in the daemon log');
  all.proc.kill('SIGINT');
});

test('job history -f prints the runs so far, then each run as it ends (text rows, or one JSON run per line)', async (t) => {
  const { env, submit, cli, ap } = await watchedDaemon(t);
  ap.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 0, final: 'SUCCEEDED' };
  const id = await submit('tail');
  await runCliProcess(['job', 'run', id, '--wait'], env);
  const text = startCli(['job', 'history', id, '-f'], env);
  const json = startCli(['job', 'history', id, '--follow', '--format', 'json'], env);
  t.after(() => {
    text.proc.kill('SIGKILL');
    json.proc.kill('SIGKILL');
  });
  await text.waitFor(/SUCCEEDED/);
  await json.waitFor(/\n/);
  await cli('job', 'run', id);
  await cli('job', 'run', id, '--force');
  await json.waitFor(/(.*\n){3}/);
  await text.waitFor(/(SUCCEEDED[^\n]*\n[\s\S]*){3}/);
  const rows = text.out().trim().split('\n');
  assert.match(rows[0]!, /^Slot +\| Fired At +\| Late +\| Action ID +\| Status +\| Summary$/);
  assert.equal(rows.length, 5, text.out());
  // The rows line up: the same column positions in every row.
  const bars = rows.filter((_, i) => i !== 1).map((r) => [...r.matchAll(/ \| /g)].map((m) => m.index));
  for (const b of bars) assert.deepEqual(b, bars[0]);
  const runs = json
    .out()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { request_id: string; run_state: string; manual: boolean });
  assert.equal(runs.length, 3);
  assert.equal(new Set(runs.map((r) => r.request_id)).size, 3);
  assert.ok(runs.every((r) => r.run_state === 'succeeded' && r.manual));
});

test('at a terminal, job run --wait draws a live bar in place and ends with its end line', {
  skip: spawnSync('python3', ['-c', 'import pty']).status !== 0 && 'python3 with pty is not here',
}, async (t) => {
  const { env, submit } = await watchedDaemon(t);
  const id = await submit('tty');
  // python's pty gives the CLI a real terminal: stdout.isTTY, 100 columns.
  const script = `
import os, pty, sys, struct, fcntl, termios
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', 30, 100, 0, 0))
    os.execv(sys.argv[1], sys.argv[1:])
out = b''
while True:
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
sys.exit(os.waitstatus_to_exitcode(status))
`;
  // Not spawnSync: the provider answering the daemon lives in this process's event loop.
  const python = spawn('python3', ['-c', script, process.execPath, path.join(ROOT, 'bin/globus-timer.js'), 'job', 'run', id, '--wait'], { env });
  let stdout = '';
  python.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  const status = await new Promise<number | null>((resolve) => python.on('close', resolve));
  const r = { status, stdout, stderr: '' };
  assert.equal(r.status, 0, r.stdout);
  const screen = r.stdout;
  assert.match(screen, /⟳ tty {2}ACTIVE \(OK\) {2}█{6}░{18} {2}25% {2}25\/100 files · 250\.0 MiB · 50\.0 MiB\/s {2}0:00:0\d/);
  assert.match(screen, /\x1b\[\d+F\x1b\[J/, 'redrawn in place');
  assert.match(screen, /✔ tty {2}SUCCEEDED {2}100 files · 1000\.0 MiB · 50\.0 MiB\/s {2}in 0:00:0\d/);
});

/** A raw connection to the daemon's socket: JSON-RPC frames in, frames out. */
async function rawRpc(socketPath: string) {
  const sock = net.connect(socketPath);
  await new Promise((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  const frames: Record<string, unknown>[] = [];
  let buf = '';
  const waiters: (() => void)[] = [];
  sock.setEncoding('utf8').on('data', (c: string) => {
    buf += c;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      frames.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
      buf = buf.slice(nl + 1);
    }
    for (const w of waiters.splice(0)) w();
  });
  let id = 0;
  return {
    sock,
    frames,
    send: (method: string, params: unknown) => sock.write(`${JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params })}\n`),
    async until(pred: (f: Record<string, unknown>) => boolean, timeoutMs = 10_000): Promise<Record<string, unknown>> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = frames.find(pred);
        if (hit) return hit;
        if (Date.now() > deadline) throw new Error(`no such frame in ${JSON.stringify(frames)}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 200);
        });
      }
    },
  };
}

test('events.subscribe over the socket: open runs, then job.events notifications; unknown jobs refused; unsubscribe stops them', async (t) => {
  const { paths, submit, cli, ap } = await watchedDaemon(t);
  ap.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 0, final: 'SUCCEEDED' };
  const a = await submit('a');
  const b = await submit('b');
  const rpc = await rawRpc(paths.socketPath);
  t.after(() => rpc.sock.destroy());
  rpc.send('events.subscribe', { job_ids: ['00000000-0000-4000-8000-000000000000'] });
  const refused = await rpc.until((f) => f.id === 1);
  assert.equal((refused.error as { data: { code: string } }).data.code, 'JOB_NOT_FOUND');
  rpc.send('events.subscribe', { job_ids: [a] });
  assert.deepEqual((await rpc.until((f) => f.id === 2)).result, { open_runs: [] });
  await cli('job', 'run', b);
  await cli('job', 'run', a);
  const ended = await rpc.until((f) => f.method === 'job.events' && JSON.stringify(f).includes('"run_state":"succeeded"'));
  const events = (ended.params as EventsNotification).events;
  assert.ok(
    events.every((e) => e.job_id === a),
    'only the watched job',
  );
  await cli('job', 'pause', a);
  await rpc.until((f) => f.method === 'job.events' && JSON.stringify(f).includes('"status":"inactive"'));
  rpc.send('events.unsubscribe', {});
  await rpc.until((f) => f.id === 3);
  const seen = rpc.frames.length;
  await cli('job', 'run', a);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(rpc.frames.length, seen, 'nothing after unsubscribe');
});
