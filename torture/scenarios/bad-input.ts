/**
 * Bad input (issue #5 item 3), against a real daemon whose jobs keep firing at two
 * recording loopback providers (one plain, one that checks the fake Globus Auth's tokens
 * for the jobs with a scope):
 *
 * (a) CLI table: every option of `job list|status|delete|resume`, `session *` and
 *     `daemon *` with bad values, plus a sample of `job submit` / `job transfer` (whose
 *     full tables are in-process in test/cli.test.ts and test/transfer.test.ts), each run
 *     as the real CLI process: exit 2 (or 1 for well-formed ids of no job), exactly one
 *     line on stderr, nothing on stdout, and nothing changed: the jobs' definitions and
 *     statuses over RPC, the token cache, the user's config directory, the daemon itself.
 * (b) RPC fuzzer: `fuzzClients` raw connections at once, each sending `fuzzFrames` frames:
 *     random bytes, truncated frames (some followed by a hang-up), frames over
 *     MAX_FRAME_BYTES, deep nesting, wrong parameter types for every method of
 *     PARAM_SCHEMAS (each checked invalid with the product's own schemas before it is sent,
 *     so no frame can change anything), unknown methods, non-object params, batches, huge
 *     and odd ids, mixed with harmless valid calls that must keep being answered. Every
 *     answer to a bad request must be an error with the right code; the daemon must stay
 *     up, answer a normal `job.list`, keep firing, and every job must be as it was.
 * (c) A corrupt token cache while the scoped jobs fire: the daemon does not crash, those
 *     jobs go inactive with detail code `TokenCacheInvalid`, the plain jobs keep firing,
 *     `session whoami` exits 1 naming `session logout` (for several kinds of garbage), and
 *     `session logout` is the way out.
 * (e) The REST API at the door (issue 14 item 9; the daemon serves it on a free loopback
 *     port): `apiCases` requests from `apiClients` connections at once (torture/lib/api-fuzz.ts):
 *     mutated and damaged TimerJob / TransferTimer / FlowTimer bodies from the recorded
 *     globus-sdk payloads, fuzzed paths and almost-UUIDs, fuzzed headers and chunked
 *     framing, oversized bodies (413). Every answer a 4xx JSON (2xx only where the input may
 *     be valid), never a 5xx or a hang; a valid client answered throughout; then the daemon
 *     is the same process, its jobs fired on time meanwhile (no slot missed, p99 lateness
 *     under a second) and no pre-existing job's document changed.
 * Then every job is deleted (so nothing is left in flight), the daemon stopped and
 * verify()ed, and no token (Globus Auth's, or the API's) appears in the daemon log, CLI
 * output or RPC results.
 * (d) `daemon run` on a database that is locked by another process, read-only, or corrupt
 *     (copies with the header overwritten or cut, or one b-tree page overwritten): it
 *     must fail at start, exit ≠ 0, with one clear `globus-timer:` line on stderr naming
 *     the database, and leave the file exactly as it was (inode, size, SHA-256).
 */
import { Ajv, type ValidateFunction } from 'ajv';
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { daemonEnv, startDaemon, type DaemonHandle } from '../../bench/lib/daemon.ts';
import { BIN } from '../../bench/lib/entry.ts';
import { tail } from '../../bench/lib/ipc.ts';
import { isAlive, makeTempDir, removeTempDir, ROOT, sleep, spawnTracked, stopChild } from '../../bench/lib/procs.ts';
import { TRANSFER_SCOPE } from '../../src/core/scopes.ts';
import { ALLOW_HTTP_TOKENS_ENV, tokenRulesFromEnv } from '../../src/auth/token-rules.ts';
import { resolveConfig } from '../../src/config/config.ts';
import { resolvePaths } from '../../src/config/paths.ts';
import { openDb } from '../../src/daemon/store/open.ts';
import { JobService } from '../../src/daemon/jobs/job-service.ts';
import type { RpcClient } from '../../src/contract/client.ts';
import { MAX_FRAME_BYTES, PARAM_SCHEMAS, type JobDocument, type JobPage, type MethodName } from '../../src/contract/protocol.ts';
import { systemClock } from '../../src/core/clock.ts';
import { startFakeAuth, type FakeAuth } from '../../test/support/auth.ts';
import { runCliProcess, type CliResult } from '../../test/support/env.ts';
import { startFakeProvider, type FakeProvider } from '../../test/support/provider.ts';
import { API_ADDR_ENV } from '../../src/core/api-addr.ts';
import { apiDoor, apiJobDocs, changedJobs, firing, judgeFiring, missedSlots, startProbe, type ApiDoor } from '../lib/api.ts';
import { apiFuzz } from '../lib/api-fuzz.ts';
import { emptyResult, type Scenario, type ScenarioParams, type ScenarioResult } from '../lib/scenario.ts';
import { snapshotJobs, verify } from '../lib/verify.ts';
import { waitFor, mulberry32 as prng } from '../lib/util.ts';

const NAME = 'bad-input';
const FUTURE = '2099-01-01T00:00:00Z';
const SRC = '000a11ce-0000-1000-8000-000000000003';
const DST = '000a11ce-0000-1000-8000-000000000002';
/** CLI processes run at once in the table (2-core CI: a few, not dozens). */
const CLI_CONCURRENCY = 4;

export const badInput: Scenario = {
  name: NAME,
  describe:
    'bad CLI flags, an RPC fuzzer, a REST API fuzzer (bodies, paths, headers, framing, 413), a corrupt token cache, a locked/read-only/corrupt database: clear errors, nothing changed or lost',
  fast: { jobs: 12, fuzzClients: 50, fuzzFrames: 30, cliCases: 32, apiCases: 250, apiClients: 16 },
  long: { jobs: 200, fuzzClients: 100, fuzzFrames: 400, cliCases: 0, apiCases: 6000, apiClients: 64 },
  paramHelp: {
    jobs: 'jobs firing (1–3 s intervals) throughout; a quarter of them (at least 2) have a scope',
    fuzzClients: 'concurrent raw RPC clients of the fuzzer',
    fuzzFrames: 'frames each fuzzer client sends',
    cliCases: 'bad command lines of the CLI table to run, spread evenly over it (0: all of them, about 85; each is a real process)',
    apiCases: 'REST API requests of the fuzzer (about 130 fixed cases: paths, headers, framing, oversize; the rest mutated bodies)',
    apiClients: 'REST API connections at once',
  },
  run,
};

// ---------------------------------------------------------------------------------------
// Small helpers

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

interface Fingerprint {
  ino: number;
  size: number;
  hash: string;
}

/**
 * Inode, size and SHA-256 of a file, read by a child process: closing a descriptor of the
 * database in this process would drop every POSIX lock this process holds on it, such as
 * the exclusive lock of the lock-holding connection (fcntl locks are per process).
 */
function fingerprint(file: string): Fingerprint {
  const script =
    "const fs=require('fs'),c=require('crypto');const f=process.argv[1];const s=fs.statSync(f);process.stdout.write(JSON.stringify({ino:s.ino,size:s.size,hash:c.createHash('sha256').update(fs.readFileSync(f)).digest('hex')}))";
  return JSON.parse(execFileSync(process.execPath, ['-e', script, file], { encoding: 'utf8' })) as Fingerprint;
}

/** Every file under `dir` with its size and mtime, to notice anything written there. */
function listTree(dir: string): string {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const st = fs.lstatSync(p);
        out.push(`${path.relative(dir, p)}:${st.size}:${st.mtimeMs}`);
      }
    }
  };
  walk(dir);
  return out.sort().join('\n');
}

/** What a job is, and whether it runs: none of it may change behind the user's back. */
function definitionOf(j: JobDocument): string {
  return JSON.stringify([j.job_id, j.name, j.start, j.interval, j.stop_after, j.scope, j.callback_url, j.callback_body, j.policy, j.status]);
}

async function allJobs(client: RpcClient): Promise<JobDocument[]> {
  const jobs: JobDocument[] = [];
  let cursor: string | null = null;
  do {
    const page: JobPage = await client.call('job.list', { limit: 1000, cursor, show_deleted: true });
    jobs.push(...page.jobs);
    cursor = page.next_cursor;
  } while (cursor);
  return jobs;
}

async function jobDefinitions(d: DaemonHandle): Promise<Map<string, string>> {
  const client = await d.connect();
  try {
    return new Map((await allJobs(client)).map((j) => [j.job_id, definitionOf(j)]));
  } finally {
    client.close();
  }
}

function diffDefinitions(before: Map<string, string>, after: Map<string, string>): { changed: string[]; added: string[] } {
  const changed: string[] = [];
  const added: string[] = [];
  for (const [id, def] of after) {
    const was = before.get(id);
    if (was === undefined) added.push(id);
    else if (was !== def) changed.push(`job ${id}: ${was} → ${def}`);
  }
  for (const id of before.keys()) if (!after.has(id)) changed.push(`job ${id} disappeared`);
  return { changed, added };
}

/** A raw connection to the daemon's socket that collects every reply line. */
class RawConn {
  readonly sock: net.Socket;
  readonly closed: Promise<void>;
  isClosed = false;
  #buf = '';
  readonly #onMessage: (msg: unknown) => void;
  readonly #waiters: { pred: (m: unknown) => boolean; resolve: (m: unknown) => void }[] = [];

  private constructor(sock: net.Socket, onMessage: (msg: unknown) => void) {
    this.sock = sock;
    this.#onMessage = onMessage;
    this.closed = new Promise((resolve) =>
      sock.once('close', () => {
        this.isClosed = true;
        for (const w of this.#waiters.splice(0)) w.resolve(undefined);
        resolve();
      }),
    );
    sock.on('error', () => sock.destroy());
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      this.#buf += chunk;
      for (let i = this.#buf.indexOf('\n'); i !== -1; i = this.#buf.indexOf('\n')) {
        const line = this.#buf.slice(0, i);
        this.#buf = this.#buf.slice(i + 1);
        let msg: unknown;
        try {
          msg = JSON.parse(line);
        } catch {
          msg = { unparsable: line.slice(0, 200) };
        }
        this.#onMessage(msg);
        for (const w of [...this.#waiters]) {
          if (w.pred(msg)) {
            this.#waiters.splice(this.#waiters.indexOf(w), 1);
            w.resolve(msg);
          }
        }
      }
    });
  }

  static open(socketPath: string, onMessage: (msg: unknown) => void): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const s = net.connect(socketPath);
      s.once('connect', () => {
        s.removeAllListeners('error');
        resolve(new RawConn(s, onMessage));
      });
      s.once('error', reject);
    });
  }

  /** Write, waiting for the socket to drain (a 1 MiB frame must not pile up in memory). */
  async write(data: string | Buffer): Promise<void> {
    if (this.isClosed || this.sock.destroyed) return;
    if (this.sock.write(data)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.sock.off('drain', done);
        this.sock.off('close', done);
        resolve();
      };
      this.sock.once('drain', done);
      this.sock.once('close', done);
    });
  }

  /** The first message (from now on) matching `pred`; undefined on close or timeout. */
  waitFor(pred: (m: unknown) => boolean, timeoutMs: number): Promise<unknown> {
    if (this.isClosed) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.#waiters.indexOf(waiter);
        if (i !== -1) this.#waiters.splice(i, 1);
        resolve(undefined);
      }, timeoutMs);
      const waiter = {
        pred,
        resolve: (m: unknown) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      this.#waiters.push(waiter);
    });
  }

  close(): void {
    this.sock.destroy();
  }
}

// ---------------------------------------------------------------------------------------
// The scenario

interface World {
  result: ScenarioResult;
  log: (line: string) => void;
  home: string;
  userHome: string;
  auth: FakeAuth;
  plain: FakeProvider;
  scoped: FakeProvider;
  daemon: DaemonHandle | null;
  /** Env of every CLI process: the daemon's, with a throwaway HOME and no PATH to run tools from. */
  cliEnv: NodeJS.ProcessEnv;
  cliOutputs: CliResult[];
  rpcTexts: string[];
  plainIds: string[];
  scopedIds: string[];
  /** Jobs a bad command created although it should not have (already reported), or the API fuzzer made (and deleted). */
  strays: Set<string>;
  /** The REST API's token (never to be logged). */
  apiToken: string | null;
}

async function run(params: ScenarioParams, log: (line: string) => void): Promise<ScenarioResult> {
  const nJobs = Math.max(4, Math.round(params.jobs ?? 12));
  const nScoped = Math.max(2, Math.round(nJobs / 4));
  const nPlain = nJobs - nScoped;
  const result = emptyResult(NAME);
  const cleanups: (() => Promise<void> | void)[] = [];
  let final: ScenarioResult = result;
  try {
    const auth = await startFakeAuth();
    cleanups.push(() => auth.close());
    const plain = await startFakeProvider();
    cleanups.push(() => plain.close());
    const scoped = await startFakeProvider();
    cleanups.push(() => scoped.close());
    for (const ap of [plain, scoped]) ap.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 0, final: 'SUCCEEDED' };
    scoped.auth = { scope: TRANSFER_SCOPE, accepts: (token, scope) => auth.accepts(token, scope) };

    const home = makeTempDir('gtbi-');
    cleanups.push(() => removeTempDir(home));
    const userHome = path.join(home, 'user');
    const emptyPath = path.join(home, 'no-tools');
    fs.mkdirSync(path.join(userHome, '.config'), { recursive: true });
    fs.mkdirSync(emptyPath);
    const daemonExtra: NodeJS.ProcessEnv = {
      GLOBUS_SDK_SERVICE_URL_AUTH: auth.baseUrl,
      GLOBUS_TIMER_TRANSFER_ACTION_URL: scoped.runUrl,
      [ALLOW_HTTP_TOKENS_ENV]: '1',
      GLOBUS_TIMER_LOG_LEVEL: 'info',
      GLOBUS_TIMER_POLL_INITIAL_MS: '50',
      GLOBUS_TIMER_POLL_MAX_MS: '200',
      GLOBUS_TIMER_RETRY_INITIAL_MS: '50',
      GLOBUS_TIMER_RETRY_MAX_MS: '200',
    };
    const cliEnv: NodeJS.ProcessEnv = { ...daemonEnv(home, daemonExtra), HOME: userHome, XDG_CONFIG_HOME: path.join(userHome, '.config'), PATH: emptyPath };
    for (const k of ['DISPLAY', 'WAYLAND_DISPLAY', 'DBUS_SESSION_BUS_ADDRESS', 'XDG_RUNTIME_DIR', 'GLOBUS_TIMER_CLIENT_ID', 'GLOBUS_TIMER_CLIENT_SECRET'])
      delete cliEnv[k];
    const w: World = {
      result,
      log,
      home,
      userHome,
      auth,
      plain,
      scoped,
      daemon: null,
      cliEnv,
      cliOutputs: [],
      rpcTexts: [],
      plainIds: [],
      scopedIds: [],
      strays: new Set(),
      apiToken: null,
    };
    const paths = resolvePaths(cliEnv);

    // The user logs in (the real CLI, the fake Auth): the scoped jobs have a token.
    const login = await runCliProcess(['session', 'login', '--no-browser'], cliEnv, (stdout) => {
      const url = /https?:\/\/\S+\/v2\/oauth2\/authorize\?\S+/.exec(stdout)?.[0];
      return url ? auth.approve(url) : undefined;
    });
    w.cliOutputs.push(login);
    if (login.code !== 0) throw new Error(`session login failed (${login.code}): ${login.stderr}`);

    // Jobs through the product's own JobService, before the daemon first runs.
    seedJobs(w, paths.dbFile, nPlain, nScoped);
    const before = snapshotJobs(paths.dbFile);
    const daemon = await startDaemon(home, { env: { ...daemonExtra, [API_ADDR_ENV]: '127.0.0.1:0' } });
    w.daemon = daemon;
    cleanups.push(async () => {
      if (isAlive(daemon.proc)) await daemon.stop();
    });
    await waitFor('the first runs of both kinds', () => plain.runRequests().length >= nPlain && scoped.runRequests().length >= nScoped, 20_000);
    log(`daemon up (pid ${daemon.pid}), ${nPlain} plain + ${nScoped} scoped jobs firing`);

    await cliTable(w, Math.max(0, Math.round(params.cliCases ?? 0)));
    await rpcFuzz(w, params);
    await apiAtTheDoor(w, params);
    await corruptTokenCache(w);

    // Settle: delete every job (a status change only), let what is in flight finish, stop.
    const client = await daemon.connect();
    try {
      for (const id of [...w.plainIds, ...w.scopedIds]) await client.call('job.delete', { job_id: id });
      await waitFor('no run in flight', async () => (await client.call('daemon.status', {})).runs_in_flight === 0, 20_000, 200);
      w.rpcTexts.push(JSON.stringify(await allJobs(client)));
    } finally {
      client.close();
    }
    await sleep(300);
    const code = await daemon.stop();
    if (code !== 0) result.violations.push(`the daemon exited with ${code} on SIGTERM`);
    checkSecrets(w, fs.readFileSync(daemon.logFile, 'utf8'));

    const verified = verify(NAME, paths.dbFile, [...plain.runRequests(), ...scoped.runRequests()], before);
    verified.violations = verified.violations.filter((v) => ![...w.strays].some((id) => v.includes(id)));
    final = {
      ...verified,
      violations: [...result.violations, ...verified.violations],
      notes: [...result.notes, ...verified.notes],
      skipped: [...result.skipped, ...verified.skipped],
    };

    await databaseAtStart(final, paths.dbFile, home, log);
  } catch (err) {
    final.violations.push(`scenario aborted: ${(err as Error).stack ?? String(err)}`);
  } finally {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        // keep cleaning
      }
    }
  }
  return final;
}

function seedJobs(w: World, dbFile: string, nPlain: number, nScoped: number): void {
  const db = openDb(dbFile);
  try {
    const service = new JobService({ db, clock: systemClock, config: resolveConfig({}), onScheduleChange: () => {}, tokenRules: tokenRulesFromEnv(w.cliEnv) });
    const t0 = Date.now() + 1_500;
    for (let i = 0; i < nPlain + nScoped; i++) {
      const isScoped = i >= nPlain;
      const doc = service.submit({
        name: `${isScoped ? 'scoped' : 'plain'}-${i}`,
        start: new Date(t0 + Math.floor((i * 1000) / (nPlain + nScoped))).toISOString(),
        interval_seconds: 1 + (i % 3),
        callback_url: isScoped ? w.scoped.runUrl : w.plain.runUrl,
        callback_body: { body: { job: i } },
        scope: isScoped ? TRANSFER_SCOPE : null,
      });
      (isScoped ? w.scopedIds : w.plainIds).push(doc.job_id);
    }
  } finally {
    db.$client.close();
  }
}

function checkSecrets(w: World, daemonLog: string): void {
  const secrets = w.auth.issuedSecrets();
  if (secrets.length === 0) w.result.violations.push('the fake Auth issued no token: the secret check checked nothing');
  if (w.apiToken && daemonLog.includes(w.apiToken)) w.result.violations.push("the REST API's bearer token appears in the daemon log");
  const places: [string, string][] = [
    ['the daemon log', daemonLog],
    ['CLI output', w.cliOutputs.map((o) => `${o.stdout}\n${o.stderr}`).join('\n')],
    ['RPC results', w.rpcTexts.join('\n')],
  ];
  for (const [where, text] of places) {
    const leaked = secrets.filter((s) => text.includes(s)).length;
    if (leaked) w.result.violations.push(`${leaked} token(s) issued by Globus Auth appear in ${where}`);
  }
}

// ---------------------------------------------------------------------------------------
// (a) The CLI table

interface CliCase {
  what: string;
  args: string[];
  /** 2: usage error (default); 1: a runtime error (a well-formed id of no job). */
  code?: 1 | 2;
  /** The one stderr line must match: it failed for this case's own reason. */
  re?: RegExp;
}

function cliCases(w: World, someJob: string): CliCase[] {
  const long = 'x'.repeat(65);
  const noSuchJob = '00000000-0000-4000-8000-000000000000';
  const submit = (over: Record<string, string | null>, extra: string[] = []) => {
    const all: Record<string, string | null> = {
      '--name': 'never stored',
      '--interval': '1h',
      '--start': FUTURE,
      '--action-url': w.plain.runUrl,
      '--action-body': '{"body": {}}',
      '--no-scope': '',
      ...over,
    };
    const args = ['job', 'submit'];
    for (const [k, v] of Object.entries(all)) if (v !== null) args.push(...(v === '' && k.startsWith('--no-') ? [k] : [k, v]));
    return [...args, ...extra];
  };
  const transfer = (over: Record<string, string[] | null>, extra: string[] = []) => {
    const all: Record<string, string[] | null> = {
      '--name': ['never stored'],
      '--interval': ['1d'],
      '--start': [FUTURE],
      '--source-endpoint': [SRC],
      '--dest-endpoint': [DST],
      '--item': ['/a', '/b', 'false'],
      ...over,
    };
    const args = ['job', 'transfer'];
    for (const [k, v] of Object.entries(all)) if (v !== null) args.push(k, ...v);
    return [...args, ...extra];
  };
  return [
    // job list
    { what: 'job list: a positional', args: ['job', 'list', 'extra'], re: /extra/ },
    { what: 'job list: unknown option', args: ['job', 'list', '--bogus'], re: /bogus/ },
    { what: 'job list: an option of the hosted CLI it lacks', args: ['job', 'list', '--limit', '5'], re: /limit/ },
    { what: 'job list --show-deleted=maybe', args: ['job', 'list', '--show-deleted=maybe'], re: /show-deleted/ },
    { what: 'job list --verbose=yes', args: ['job', 'list', '--verbose=yes'], re: /verbose/ },
    { what: 'job list -v=2', args: ['job', 'list', '-v=2'], re: /verbose|\bv\b/ },
    { what: 'job list --format (no value)', args: ['job', 'list', '--format'], re: /format/ },
    { what: 'job list --format xml', args: ['job', 'list', '--format', 'xml'], re: /format/ },
    // job status
    { what: 'job status: neither an id nor --all', args: ['job', 'status'], re: /job ID|--all/ },
    { what: 'job status: two ids', args: ['job', 'status', someJob, noSuchJob], re: new RegExp(noSuchJob) },
    { what: 'job status: an id over 64 characters', args: ['job', 'status', long], re: /job.id|64/ },
    { what: 'job status --all=yes', args: ['job', 'status', '--all=yes'], re: /all/ },
    { what: 'job status --all --show-deleted=1', args: ['job', 'status', '--all', '--show-deleted=1'], re: /show-deleted/ },
    { what: 'job status --format xml', args: ['job', 'status', '--all', '--format', 'xml'], re: /format/ },
    { what: 'job status: unknown option', args: ['job', 'status', someJob, '--bogus'], re: /bogus/ },
    { what: 'job status: no such job', args: ['job', 'status', noSuchJob], code: 1, re: /no job with id/ },
    // job delete
    { what: 'job delete: no id', args: ['job', 'delete'], re: /missing JOB_ID/ },
    { what: 'job delete: an empty id', args: ['job', 'delete', ''], re: /job.id/ },
    { what: 'job delete: an id over 64 characters', args: ['job', 'delete', long], re: /job.id|64/ },
    { what: 'job delete: unknown option (with a real id)', args: ['job', 'delete', someJob, '--bogus'], re: /bogus/ },
    { what: 'job delete --verbose=yes (no such job)', args: ['job', 'delete', noSuchJob, '--verbose=yes'], re: /verbose/ },
    { what: 'job delete --format xml (with a real id)', args: ['job', 'delete', someJob, '--format', 'xml'], re: /format/ },
    { what: 'job delete: no such job', args: ['job', 'delete', noSuchJob], code: 1, re: /no job with id/ },
    // job resume
    { what: 'job resume: no id', args: ['job', 'resume'], re: /missing JOB_ID/ },
    { what: 'job resume: two ids', args: ['job', 'resume', someJob, noSuchJob], re: new RegExp(noSuchJob) },
    { what: 'job resume: an empty id', args: ['job', 'resume', ''], re: /job.id/ },
    { what: 'job resume: an id over 64 characters', args: ['job', 'resume', long], re: /job.id|64/ },
    { what: 'job resume: unknown option (with a real id)', args: ['job', 'resume', someJob, '--bogus'], re: /bogus/ },
    { what: 'job resume: no such job', args: ['job', 'resume', noSuchJob], code: 1, re: /no job with id/ },
    // job submit: a sample through the real process (the full table is in test/cli.test.ts)
    { what: 'job submit --interval 1m2d', args: submit({ '--interval': '1m2d' }), re: /interval/ },
    { what: 'job submit --action-url http://example.org/run', args: submit({ '--action-url': 'http://example.org/run' }), re: /action URL/ },
    { what: 'job submit --action-body []', args: submit({ '--action-body': '[]' }), re: /"body" object/ },
    { what: 'job submit --stop-after-runs 0', args: submit({ '--stop-after-runs': '0' }), re: /stop-after-runs/ },
    { what: 'job submit --start tomorrow', args: submit({ '--start': 'tomorrow' }), re: /--start/ },
    { what: 'job submit --overlap sometimes', args: submit({ '--overlap': 'sometimes' }), re: /overlap/ },
    { what: 'job submit --scope " "', args: submit({ '--no-scope': null, '--scope': ' ' }), re: /--scope/ },
    { what: 'job submit --name twice', args: submit({}, ['--name', 'again']), re: /--name.*more than once/ },
    { what: 'job submit --verbose=yes', args: submit({}, ['--verbose=yes']), re: /verbose/ },
    // job transfer: a sample (the full table is in test/transfer.test.ts)
    { what: 'job transfer --sync-level 4', args: transfer({ '--sync-level': ['4'] }), re: /sync-level/ },
    { what: 'job transfer --item with a bad RECURSIVE', args: transfer({ '--item': ['/a', '/b', 'sometimes'] }), re: /sometimes/ },
    { what: 'job transfer --source-endpoint not a UUID', args: transfer({ '--source-endpoint': ['go#ep1'] }), re: /source-endpoint/ },
    { what: 'job transfer --data-access not a UUID', args: transfer({ '--data-access': ['my-collection'] }), re: /data-access/ },
    { what: 'job transfer without items', args: transfer({ '--item': null }), re: /--item/ },
    { what: 'job transfer --verify-checksum=yes', args: transfer({}, ['--verify-checksum=yes']), re: /verify-checksum/ },
    { what: 'job transfer --encrypt-data=1', args: transfer({}, ['--encrypt-data=1']), re: /encrypt-data/ },
    // session
    // `session` and `daemon` alone print their help and exit 0, as the original CLI did
    // (test/cli-contract.test.ts): not bad input.
    { what: 'session: unknown command', args: ['session', 'frobnicate'], re: /frobnicate/ },
    { what: 'session login: a positional', args: ['session', 'login', 'extra'], re: /extra/ },
    { what: 'session login --browser=maybe', args: ['session', 'login', '--browser=maybe'], re: /browser/ },
    { what: 'session login --scope ""', args: ['session', 'login', '--no-browser', '--scope', ''], re: /scope/ },
    { what: 'session whoami --format xml', args: ['session', 'whoami', '--format', 'xml'], re: /format/ },
    { what: 'session whoami: a positional', args: ['session', 'whoami', 'extra'], re: /extra/ },
    { what: 'session logout: unknown option', args: ['session', 'logout', '--bogus'], re: /bogus/ },
    { what: 'session logout: a positional', args: ['session', 'logout', 'extra'], re: /extra/ },
    { what: 'session revoke: unknown option', args: ['session', 'revoke', '--bogus'], re: /bogus/ },
    { what: 'session revoke: a positional', args: ['session', 'revoke', 'extra'], re: /extra/ },
    // daemon
    { what: 'daemon: unknown command', args: ['daemon', 'frobnicate'] },
    { what: 'daemon run: unknown option', args: ['daemon', 'run', '--bogus'], re: /bogus/ },
    { what: 'daemon run: a positional', args: ['daemon', 'run', 'extra'], re: /extra/ },
    { what: 'daemon run --log-file=maybe', args: ['daemon', 'run', '--log-file=maybe'], re: /log-file/ },
    { what: 'daemon start: unknown option', args: ['daemon', 'start', '--bogus'], re: /bogus/ },
    { what: 'daemon start: a positional', args: ['daemon', 'start', 'extra'], re: /extra/ },
    { what: 'daemon stop: unknown option', args: ['daemon', 'stop', '--bogus'], re: /bogus/ },
    { what: 'daemon stop: a positional', args: ['daemon', 'stop', 'extra'], re: /extra/ },
    { what: 'daemon status: unknown option', args: ['daemon', 'status', '--bogus'], re: /bogus/ },
    { what: 'daemon status --format xml', args: ['daemon', 'status', '--format', 'xml'], re: /format/ },
    { what: 'daemon logs --lines -1', args: ['daemon', 'logs', '--lines', '-1'], re: /lines/ },
    { what: 'daemon logs --lines abc', args: ['daemon', 'logs', '--lines', 'abc'], re: /lines/ },
    { what: 'daemon logs --lines 1.5', args: ['daemon', 'logs', '--lines', '1.5'], re: /lines/ },
    { what: 'daemon logs -n (no value)', args: ['daemon', 'logs', '-n'], re: /lines|\bn\b/ },
    { what: 'daemon logs --follow=maybe', args: ['daemon', 'logs', '--follow=maybe'], re: /follow/ },
    { what: 'daemon logs: a positional', args: ['daemon', 'logs', 'extra'], re: /extra/ },
    { what: 'daemon install --systemd --launchd', args: ['daemon', 'install', '--systemd', '--launchd'], re: /systemd|launchd/ },
    { what: 'daemon install --dry-run=yes', args: ['daemon', 'install', '--dry-run=yes'], re: /dry-run/ },
    { what: 'daemon install: unknown option', args: ['daemon', 'install', '--bogus'], re: /bogus/ },
    { what: 'daemon uninstall --systemd --launchd', args: ['daemon', 'uninstall', '--systemd', '--launchd'], re: /systemd|launchd/ },
    { what: 'daemon uninstall --dry-run=yes', args: ['daemon', 'uninstall', '--dry-run=yes'], re: /dry-run/ },
    { what: 'daemon uninstall: a positional', args: ['daemon', 'uninstall', 'extra'], re: /extra/ },
    // global options
    // Not `globus-timer` alone: that prints the help, exit 0, as the original CLI did (cli/main.ts).
    { what: 'an unknown command', args: ['jbo'] },
    { what: '--format yaml before the command', args: ['--format', 'yaml', 'job', 'list'], re: /format/ },
    { what: '--autostart=maybe', args: ['--autostart=maybe', 'job', 'list'], re: /autostart/ },
    { what: 'an unknown global option', args: ['--bogus', 'job', 'list'], re: /bogus/ },
  ];
}

interface World2State {
  defs: Map<string, string>;
  tokens: string;
  userTree: string;
}

async function cliTable(w: World, wanted: number): Promise<void> {
  const daemon = w.daemon!;
  const tokensFile = resolvePaths(w.cliEnv).tokensFile;
  const state = async (): Promise<World2State> => ({ defs: await jobDefinitions(daemon), tokens: sha256(tokensFile), userTree: listTree(w.userHome) });
  const table = cliCases(w, w.plainIds[0]!);
  // An even spread over the table when not all of it is wanted (every command keeps some cases).
  const cases = wanted > 0 && wanted < table.length ? Array.from({ length: wanted }, (_, i) => table[Math.floor((i * table.length) / wanted)]!) : table;
  const t0 = Date.now();
  let current = await state();
  let failed = 0;
  for (let i = 0; i < cases.length; i += CLI_CONCURRENCY) {
    const batch = cases.slice(i, i + CLI_CONCURRENCY);
    const results = await Promise.all(batch.map((c) => runCliProcess(c.args, w.cliEnv)));
    w.cliOutputs.push(...results);
    const problemsBefore = w.result.violations.length;
    for (const [k, c] of batch.entries()) {
      const r = results[k]!;
      const wanted = c.code ?? 2;
      const bad: string[] = [];
      if (r.code !== wanted) bad.push(`exit ${r.code} (wanted ${wanted})`);
      if (r.stdout !== '') bad.push(`stdout ${JSON.stringify(r.stdout.slice(0, 160))}`);
      if (!/^globus-timer: [^\n]+\n$/.test(r.stderr)) bad.push(`stderr is not one "globus-timer: " line: ${JSON.stringify(r.stderr.slice(0, 240))}`);
      else if (c.re && !c.re.test(r.stderr)) bad.push(`stderr does not name the problem (${c.re}): ${JSON.stringify(r.stderr.trim())}`);
      if (bad.length) w.result.violations.push(`CLI ${c.what} [${c.args.map((a) => JSON.stringify(a)).join(' ')}]: ${bad.join('; ')}`);
    }
    // Nothing changed: jobs, token cache, the user's config, the daemon itself.
    if (!isAlive(daemon.proc)) throw new Error(`the daemon exited during the CLI table (batch: ${batch.map((c) => c.what).join(', ')})`);
    const next = await state();
    const what = batch.map((c) => c.what).join(' | ');
    const { changed, added } = diffDefinitions(current.defs, next.defs);
    for (const id of added) w.strays.add(id);
    if (changed.length || added.length)
      w.result.violations.push(`CLI batch [${what}] changed the jobs: ${[...changed, ...added.map((id) => `job ${id} created`)].join('; ').slice(0, 600)}`);
    if (next.tokens !== current.tokens) w.result.violations.push(`CLI batch [${what}] changed the token cache`);
    if (next.userTree !== current.userTree) {
      const was = new Set(current.userTree.split('\n').filter(Boolean));
      const now = new Set(next.userTree.split('\n').filter(Boolean));
      const name = (l: string) => l.split(':')[0];
      const changes = [
        ...[...now].filter((l) => !was.has(l)).map((l) => `wrote ${name(l)}`),
        ...[...was].filter((l) => !now.has(l)).map((l) => `removed ${name(l)}`),
      ];
      w.result.violations.push(`CLI batch [${what}] changed files under the user's home: ${changes.join(', ')}`);
    }
    if (w.result.violations.length > problemsBefore) failed += 1;
    current = next;
  }
  const client = await daemon.connect();
  try {
    if (client.daemon.pid !== daemon.pid) w.result.violations.push(`another daemon answers after the CLI table (pid ${client.daemon.pid}, was ${daemon.pid})`);
  } finally {
    client.close();
  }
  w.result.notes.push(`CLI table: ${cases.length} of ${table.length} bad command lines as real processes in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  w.log(`CLI table: ${cases.length} cases, ${failed} batch(es) with problems`);
}

// ---------------------------------------------------------------------------------------
// (b) The RPC fuzzer

const METHODS = Object.keys(PARAM_SCHEMAS) as MethodName[];

/** A valid parameter object per method, for mutation (mutations are always checked invalid). */
function validBase(method: MethodName, jobId: string): Record<string, unknown> {
  switch (method) {
    case 'job.submit':
      return {
        name: 'fuzz',
        start: FUTURE,
        interval_seconds: 60,
        callback_url: 'https://fuzz.example.org/run',
        callback_body: { body: { a: 1 } },
        scope: null,
        stop_after: { date: null, n_runs: 1 },
        policy: { overlap: 'skip', misfire: 'coalesce' },
      };
    case 'job.get':
    case 'job.delete':
    case 'job.resume':
      return { job_id: jobId };
    case 'job.resolve':
      return { job_ids: [jobId, jobId.slice(0, 8)] };
    case 'job.purge':
      return { job_ids: [jobId], dry_run: true };
    case 'job.pause':
      return { job_id: jobId, note: 'fuzz' };
    case 'job.run':
      return { job_id: jobId, force: false };
    case 'job.update':
      return { job_id: jobId, stop_after: { n_runs: 2 } };
    case 'job.history':
      return { job_id: jobId, limit: 5, cursor: null, status: 'succeeded' };
    case 'job.next':
      return { job_id: jobId, count: 3 };
    case 'job.list':
      return { limit: 10, cursor: null, show_deleted: true };
    case 'daemon.hello':
      return { protocol_version: 1, version: 'fuzz' };
    case 'daemon.status':
    case 'daemon.stop':
    case 'api.rotate_token':
    case 'api.dashboard_login':
    case 'events.unsubscribe':
      return {};
    case 'events.subscribe':
      return { job_ids: [jobId] };
  }
}

class Fuzzer {
  readonly rnd: () => number;
  readonly validators: Map<MethodName, ValidateFunction>;
  readonly jobIds: string[];
  #n = 0;

  constructor(seed: number, jobIds: string[], validators: Map<MethodName, ValidateFunction>) {
    this.rnd = prng(seed);
    this.jobIds = jobIds;
    this.validators = validators;
  }

  int(lo: number, hi: number): number {
    return lo + Math.floor(this.rnd() * (hi - lo + 1));
  }

  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rnd() * xs.length)]!;
  }

  id(kind: 'bad-param' | 'bad-method' | 'bad-request' | 'bad-shape' | 'notfound' | 'ok'): string {
    return `${kind}-${++this.#n}`;
  }

  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(this.rnd() * 256);
    return b;
  }

  deep(depth: number): unknown {
    let v: unknown = 1;
    for (let i = 0; i < depth; i++) v = this.rnd() < 0.5 ? [v] : { a: v };
    return v;
  }

  wrongValue(): unknown {
    return this.pick<() => unknown>([
      () => null,
      () => true,
      () => false,
      () => 0,
      () => -1,
      () => 1.5,
      () => 1e308,
      () => -(2 ** 63),
      () => 2 ** 53 + 1,
      () => '',
      () => 'x',
      () => 'y'.repeat(this.int(65, 5000)),
      () => [],
      () => [1, 'a', null],
      () => ({}),
      () => ({ body: { nested: true } }),
      () => this.deep(this.int(5, 300)),
      () => '\u0000\u0007\ud800',
    ])();
  }

  /** Params that the method's schema refuses (checked with the product's own schema). */
  badParams(method: MethodName): unknown {
    const validate = this.validators.get(method)!;
    for (let attempt = 0; attempt < 30; attempt++) {
      let params: unknown = structuredClone(validBase(method, this.pick(this.jobIds)));
      const mutations = this.int(1, 3);
      for (let m = 0; m < mutations; m++) params = this.mutate(params, method);
      // What the server sees: the JSON text, then `params ?? {}`.
      const seen = params === undefined ? {} : ((JSON.parse(JSON.stringify(params)) as unknown) ?? {});
      if (!validate(seen)) return params;
    }
    return [];
  }

  mutate(params: unknown, method: MethodName): unknown {
    const r = this.rnd();
    if (r < 0.1) {
      // Non-object params; null and absent only where `params ?? {}` cannot make a valid stop.
      const pool: unknown[] = [[], [this.pick(this.jobIds)], 'params', 42, true, false];
      if (method !== 'daemon.stop' && method !== 'daemon.status') pool.push(null);
      return this.pick(pool);
    }
    if (typeof params !== 'object' || params === null || Array.isArray(params)) return params;
    const obj = params as Record<string, unknown>;
    const keys = Object.keys(obj);
    if (r < 0.25 || keys.length === 0) {
      obj[this.pick(['extra', 'jobId', 'id', 'params', 'constructor', 'limit', 'force', 'Name', 'job_id ', ''])] = this.wrongValue();
      return obj;
    }
    const key = this.pick(keys);
    if (r < 0.4) {
      delete obj[key];
      return obj;
    }
    const inner = obj[key];
    if (r < 0.6 && inner && typeof inner === 'object' && !Array.isArray(inner)) {
      const innerKeys = Object.keys(inner);
      const k2 = innerKeys.length && this.rnd() < 0.8 ? this.pick(innerKeys) : 'extra';
      (inner as Record<string, unknown>)[k2] = this.wrongValue();
      return obj;
    }
    obj[key] = this.wrongValue();
    return obj;
  }

  request(id: unknown, method: string, params?: unknown): string {
    const req: Record<string, unknown> = { jsonrpc: '2.0', id, method };
    if (params !== undefined) req.params = params;
    return JSON.stringify(req);
  }

  /** One bad request as text (no newline). */
  badRequest(): string {
    const kind = this.rnd();
    if (kind < 0.6) {
      const method = this.pick(METHODS);
      return this.request(this.id('bad-param'), method, this.badParams(method));
    }
    if (kind < 0.75) {
      const method = this.pick([
        'job.nope',
        'job.Delete',
        'JOB.LIST',
        'daemon.stop ',
        ' daemon.stop',
        'daemon.stop\u0000',
        'daemon',
        'job',
        'rpc.discover',
        '__proto__',
        'constructor',
        'toString',
        'hasOwnProperty',
        '',
        'job.submit.extra',
        'x'.repeat(this.int(1, 3000)),
      ]);
      return this.request(this.id('bad-method'), method, {});
    }
    if (kind < 0.85) {
      // Not a request: wrong version, no method, a method that is not a string, odd ids.
      return this.pick([
        () => JSON.stringify({ jsonrpc: '1.0', id: this.id('bad-request'), method: 'job.list', params: {} }),
        () => JSON.stringify({ id: this.id('bad-request'), method: 'job.list', params: {} }),
        // A method that is not a string: -32600 by the spec, -32601 from json-rpc-2.0; both are clear.
        () => JSON.stringify({ jsonrpc: '2.0', id: this.id('bad-shape'), method: 42, params: {} }),
        () => JSON.stringify({ jsonrpc: '2.0', id: this.id('bad-request'), params: {} }),
        () => JSON.stringify({ jsonrpc: '2.0', id: { nested: this.id('bad-request') }, method: 'job.get', params: { job_id: 7 } }),
        () => JSON.stringify({ jsonrpc: '2.0', id: [1, 2], method: 'job.get', params: { job_id: 7 } }),
      ])();
    }
    // The __proto__ key as JSON.parse makes it: an own property the schemas must refuse.
    const method = this.pick(['job.list', 'job.get', 'job.submit', 'daemon.status', 'daemon.stop'] as const);
    const inner = JSON.stringify(validBase(method, this.pick(this.jobIds))).slice(1, -1);
    const params = `{"__proto__":{"limit":5,"job_id":"x"}${inner ? ',' + inner : ''}}`;
    return `{"jsonrpc":"2.0","id":"${this.id('bad-param')}","method":"${method}","params":${params}}`;
  }

  okRequest(): string {
    const id = this.id('ok');
    return this.pick([
      () => this.request(id, 'job.list', { limit: this.int(1, 5) }),
      () => this.request(id, 'daemon.status', {}),
      () => this.request(id, 'job.get', { job_id: this.pick(this.jobIds) }),
      () => this.request(id, 'daemon.hello', { protocol_version: 1, version: 'fuzz', extra: true }),
    ])();
  }
}

interface FuzzStats {
  frames: Record<string, number>;
  replies: number;
  errorCodes: Record<string, number>;
  okAnswered: number;
  okSent: number;
  /** Valid requests never answered, by the kind of frame sent just before them. */
  unansweredAfter: Record<string, number>;
  oversize: number;
  reconnects: number;
  bad: string[];
}

function checkReply(msg: unknown, stats: FuzzStats, pending: Map<string, string>): void {
  const items = Array.isArray(msg) ? msg : [msg];
  for (const item of items) {
    stats.replies += 1;
    const r = item as { id?: unknown; result?: unknown; error?: { code?: unknown; data?: { code?: unknown } }; unparsable?: string };
    if (r.unparsable !== undefined) {
      stats.bad.push(`an unparsable reply line: ${JSON.stringify(r.unparsable)}`);
      continue;
    }
    const id = typeof r.id === 'string' ? r.id : '';
    if ('result' in r) {
      if (id.startsWith('ok-')) {
        if (pending.delete(id)) stats.okAnswered += 1;
      } else
        stats.bad.push(`a bad request was answered with a result: id ${JSON.stringify(r.id).slice(0, 80)}, result ${JSON.stringify(r.result).slice(0, 200)}`);
      continue;
    }
    const code = String(r.error?.code);
    stats.errorCodes[code] = (stats.errorCodes[code] ?? 0) + 1;
    if (!r.error) stats.bad.push(`a reply that is neither result nor error: ${JSON.stringify(r).slice(0, 200)}`);
    else if (id.startsWith('ok-')) stats.bad.push(`a valid request got an error: ${JSON.stringify(r).slice(0, 200)}`);
    else if (id.startsWith('bad-param-') && (r.error.code !== -32602 || r.error.data?.code !== 'INVALID_INPUT'))
      stats.bad.push(`wrong params answered with ${JSON.stringify(r.error).slice(0, 200)} (wanted -32602 INVALID_INPUT)`);
    else if (id.startsWith('bad-method-') && r.error.code !== -32601)
      stats.bad.push(`an unknown method answered with ${JSON.stringify(r.error).slice(0, 200)} (wanted -32601)`);
    else if (id.startsWith('bad-shape-') && r.error.code !== -32600 && r.error.code !== -32601)
      stats.bad.push(`a request with a non-string method answered with ${JSON.stringify(r.error).slice(0, 200)} (wanted -32600 or -32601)`);
    else if (id.startsWith('bad-request-') && r.error.code !== -32600)
      stats.bad.push(`an invalid request answered with ${JSON.stringify(r.error).slice(0, 200)} (wanted -32600)`);
    else if (id.startsWith('notfound-') && (r.error.code !== -32004 || r.error.data?.code !== 'JOB_NOT_FOUND'))
      stats.bad.push(`an unknown job answered with ${JSON.stringify(r.error).slice(0, 200)} (wanted -32004 JOB_NOT_FOUND)`);
  }
}

const NULL_BATCH = 'a batch with a null member';

async function fuzzClient(socketPath: string, fz: Fuzzer, frames: number, allowOversize: boolean, stats: FuzzStats, client: number): Promise<void> {
  let kind = 'none';
  const count = (k: string) => {
    kind = k;
    stats.frames[k] = (stats.frames[k] ?? 0) + 1;
  };
  /** Valid requests sent and not answered yet: id → the kind of the frame before it. */
  const pending = new Map<string, string>();
  let previous = 'none';
  const expectOk = (text: string, context = previous) => {
    for (const m of text.matchAll(/"id":"(ok-[^"]+)"/g)) {
      pending.set(m[1]!, context);
      stats.okSent += 1;
    }
  };
  const onMessage = (m: unknown) => checkReply(m, stats, pending);
  let conn = await RawConn.open(socketPath, onMessage);
  /** Wait until everything sent on this connection is answered (before hanging up on it). */
  let sentinels = 0;
  const drain = async () => {
    const id = `ok-drain-${client}-${++sentinels}`;
    const text = JSON.stringify({ jsonrpc: '2.0', id, method: 'daemon.status', params: {} });
    expectOk(text);
    const answered = conn.waitFor((m) => (m as { id?: unknown }).id === id, 30_000);
    await conn.write(`\n${text}\n`);
    if (!(await answered)) stats.bad.push(`client ${client}: no answer to a daemon.status amid the fuzzing`);
    // A batch is answered once all its members are: possibly after later single calls.
    await settle();
  };
  const settle = async () => {
    const settleBy = Date.now() + 3_000;
    while (pending.size > 0 && Date.now() < settleBy) await sleep(20);
  };
  const reconnect = async () => {
    conn.close();
    stats.reconnects += 1;
    conn = await RawConn.open(socketPath, onMessage);
  };
  let oversizeLeft = allowOversize ? 1 : 0;
  try {
    for (let f = 0; f < frames; f++) {
      if (conn.isClosed) {
        stats.bad.push(`client ${client}: the daemon closed the connection without cause (frame ${f})`);
        await reconnect();
      }
      const r = fz.rnd();
      if (r < 0.12) {
        count('random bytes');
        await conn.write(Buffer.concat([fz.bytes(fz.rnd() < 0.9 ? fz.int(1, 4096) : fz.int(4096, 64 * 1024)), Buffer.from('\n')]));
      } else if (r < 0.2) {
        count('truncated');
        const full = fz.rnd() < 0.5 ? fz.okRequest() : fz.badRequest();
        await conn.write(full.slice(0, fz.int(1, full.length - 1)) + '\n');
      } else if (r < 0.22) {
        count('truncated, then hang up');
        await drain();
        const full = fz.okRequest();
        await conn.write(full.slice(0, fz.int(1, full.length - 1)));
        await reconnect();
      } else if (r < 0.47) {
        count('wrong params / unknown method / not a request');
        await conn.write(fz.badRequest() + '\n');
      } else if (r < 0.55) {
        count('non-object params');
        const method = fz.pick(METHODS);
        const params = fz.pick<unknown>(method === 'daemon.stop' || method === 'daemon.status' ? ['x', 1, true, [], [{}]] : ['x', 1, true, [], [{}], null]);
        const seen = params ?? {};
        if (fz.validators.get(method)!(seen)) continue; // cannot happen: no schema takes these
        await conn.write(fz.request(fz.id('bad-param'), method, params) + '\n');
      } else if (r < 0.62) {
        count('batch');
        const shape = fz.rnd();
        let text: string;
        if (shape < 0.1) text = '[]';
        else if (shape < 0.2) text = `[[${fz.badRequest()}]]`;
        else {
          const parts = Array.from({ length: fz.int(1, shape < 0.9 ? 20 : 300) }, () =>
            fz.rnd() < 0.15 ? fz.okRequest() : fz.rnd() < 0.1 ? fz.pick(['1', '"x"', 'null', '{}']) : fz.badRequest(),
          );
          text = `[${parts.join(',')}]`;
          expectOk(text, parts.includes('null') ? NULL_BATCH : 'a batch member');
        }
        await conn.write(text + '\n');
      } else if (r < 0.69) {
        count('huge or odd id');
        const method = fz.pick(METHODS);
        const params = JSON.stringify(fz.badParams(method));
        const id = fz.pick([
          () => JSON.stringify(`bad-param-huge-${'i'.repeat(fz.int(10_000, 400_000))}`),
          () => '1e308',
          () => '1e400',
          () => '123456789012345678901234567890',
          () => '-0',
          () => '0.5',
          () => JSON.stringify('bad-param-\u0000\ud800'),
        ])();
        await conn.write(`{"jsonrpc":"2.0","id":${id},"method":${JSON.stringify(method)},"params":${params}}\n`);
      } else if (r < 0.75) {
        count('deep nesting');
        const depth = fz.int(1_000, 100_000);
        const kind = fz.int(0, 3);
        const text =
          kind === 0
            ? '['.repeat(depth) + ']'.repeat(depth)
            : kind === 1
              ? '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)
              : kind === 2
                ? '['.repeat(depth)
                : `{"jsonrpc":"2.0","id":"${fz.id('bad-param')}","method":"job.submit","params":{"name":"deep","interval_seconds":60,"callback_url":"https://x.example/run","callback_body":{"body":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}}}`;
        await conn.write(text + '\n');
      } else if (r < 0.78) {
        count('unknown job');
        await conn.write(fz.request(fz.id('notfound'), fz.pick(['job.get', 'job.delete', 'job.resume']), { job_id: randomUUID() }) + '\n');
      } else if (r < 0.8 && oversizeLeft > 0) {
        count('oversized frame');
        await drain();
        oversizeLeft -= 1;
        stats.oversize += 1;
        const head = fz.rnd() < 0.5 ? '{"jsonrpc":"2.0","id":1,"method":"job.list","params":{"cursor":"' : '';
        const refused = conn.waitFor((m) => (m as { error?: { code?: number } }).error?.code === -32600, 20_000);
        await conn.write(head);
        const chunk = 'a'.repeat(64 * 1024);
        for (let sent = head.length; sent <= MAX_FRAME_BYTES && !conn.isClosed; sent += chunk.length) await conn.write(chunk);
        if (!(await refused)) stats.bad.push(`client ${client}: no -32600 reply to an oversized frame`);
        await Promise.race([conn.closed, sleep(10_000)]);
        if (!conn.isClosed) stats.bad.push(`client ${client}: the connection stayed open after an oversized frame`);
        conn = await RawConn.open(socketPath, onMessage);
      } else {
        count('valid');
        const text = fz.okRequest();
        expectOk(text);
        await conn.write(text + '\n');
      }
      previous = kind;
    }
    // Everything sent has been read once the sentinel is answered (frames are handled in order).
    const sentinel = `ok-sentinel-${client}`;
    const text = JSON.stringify({ jsonrpc: '2.0', id: sentinel, method: 'daemon.status', params: {} });
    expectOk(text);
    const answered = conn.waitFor((m) => (m as { id?: unknown }).id === sentinel, 60_000);
    await conn.write(`\n${text}\n`);
    const answer = await answered;
    if (!answer) stats.bad.push(`client ${client}: no answer to a daemon.status after its fuzzing${conn.isClosed ? ' (connection closed)' : ''}`);
    await settle();
  } finally {
    conn.close();
    for (const after of pending.values()) stats.unansweredAfter[after] = (stats.unansweredAfter[after] ?? 0) + 1;
  }
}

async function rpcFuzz(w: World, params: ScenarioParams): Promise<void> {
  const daemon = w.daemon!;
  const clients = Math.max(1, Math.round(params.fuzzClients ?? 50));
  const frames = Math.max(1, Math.round(params.fuzzFrames ?? 30));
  const seed = Math.floor(Math.random() * 2 ** 31);
  const ajv = new Ajv({ allErrors: false, strict: true });
  const validators = new Map(METHODS.map((m) => [m, ajv.compile(PARAM_SCHEMAS[m])] as const));
  const jobIds = [...w.plainIds, ...w.scopedIds];
  const before = await jobDefinitions(daemon);
  const stats: FuzzStats = { frames: {}, replies: 0, errorCodes: {}, okAnswered: 0, okSent: 0, unansweredAfter: {}, oversize: 0, reconnects: 0, bad: [] };
  const runsBefore = w.plain.runRequests().length + w.scoped.runRequests().length;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: clients }, (_, i) =>
      fuzzClient(daemon.paths.socketPath, new Fuzzer(seed + i, jobIds, validators), frames, i % 5 === 0, stats, i).catch((err: unknown) => {
        stats.bad.push(`client ${i}: ${(err as Error).message}`);
      }),
    ),
  );
  const elapsedMs = Date.now() - t0;
  const runsDuring = w.plain.runRequests().length + w.scoped.runRequests().length - runsBefore;

  if (!isAlive(daemon.proc)) throw new Error(`the daemon died under the RPC fuzzer (seed ${seed}): exit ${daemon.proc.exitCode ?? daemon.proc.signalCode}`);
  for (const b of [...new Set(stats.bad)].slice(0, 20)) w.result.violations.push(`RPC fuzzer (seed ${seed}): ${b}`);
  if (stats.bad.length > 20) w.result.violations.push(`RPC fuzzer (seed ${seed}): ${stats.bad.length - 20} more problems like these`);
  const { [NULL_BATCH]: inNullBatches = 0, ...otherwise } = stats.unansweredAfter;
  if (inNullBatches)
    w.result.violations.push(
      `RPC fuzzer (seed ${seed}): ${inNullBatches} valid calls inside batches that also held a null member got no answer (no member of such a batch is answered)`,
    );
  if (Object.keys(otherwise).length)
    w.result.violations.push(`RPC fuzzer (seed ${seed}): valid calls got no answer, by the kind of frame sent just before them: ${JSON.stringify(otherwise)}`);

  // A normal client gets a normal answer, and every job is as it was.
  const client = await daemon.connect();
  try {
    const jobs = await allJobs(client);
    w.rpcTexts.push(JSON.stringify(jobs));
    const after = new Map(jobs.map((j) => [j.job_id, definitionOf(j)]));
    const { changed, added } = diffDefinitions(before, after);
    for (const id of added) w.strays.add(id);
    for (const c of [...changed, ...added.map((id) => `job ${id} created`)].slice(0, 10))
      w.result.violations.push(`RPC fuzzer (seed ${seed}) changed the jobs: ${c}`);
    if (client.daemon.pid !== daemon.pid) w.result.violations.push('another daemon answers after the fuzzer');
  } finally {
    client.close();
  }
  if (runsDuring === 0) w.result.violations.push(`no job fired during ${(elapsedMs / 1000).toFixed(1)} s of RPC fuzzing`);
  await batchProbes(w, daemon.paths.socketPath);
  // Bad input is answered, never an internal failure: what the daemon logged as one.
  const failures = new Map<string, number>();
  for (const line of fs.readFileSync(daemon.logFile, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { msg?: string; level?: number; err?: { message?: string } };
      if (entry.msg === 'rpc dispatch failed' || entry.msg === 'rpc method failed' || entry.msg === 'rpc server error') {
        const key = `${entry.msg}: ${entry.err?.message ?? '?'}`;
        failures.set(key, (failures.get(key) ?? 0) + 1);
      }
    } catch {
      // not a log line
    }
  }
  for (const [what, n] of failures)
    w.result.violations.push(`RPC fuzzer: the daemon logged ${n}× "${what}" (bad input must get an error reply, not an internal failure)`);
  const total = Object.values(stats.frames).reduce((a, b) => a + b, 0);
  w.result.notes.push(
    `RPC fuzzer: ${clients} clients × ${frames} frames (${total} sent, seed ${seed}) in ${(elapsedMs / 1000).toFixed(1)} s; ${stats.replies} replies; ` +
      `${stats.okAnswered}/${stats.okSent} valid calls answered; error codes ${JSON.stringify(stats.errorCodes)}; ${stats.oversize} oversized frames; ${runsDuring} runs fired meanwhile`,
  );
  w.result.notes.push(`RPC fuzzer frames: ${JSON.stringify(stats.frames)}`);
  w.log(`RPC fuzzer: ${total} frames from ${clients} clients in ${(elapsedMs / 1000).toFixed(1)} s, ${stats.bad.length} problems`);
}

/**
 * Batches with a member that is not a request object, on their own: each member gets its
 * own answer (JSON-RPC 2.0 §6), a valid one its result, whatever the others are.
 */
async function batchProbes(w: World, socketPath: string): Promise<void> {
  const ok = (id: string) => JSON.stringify({ jsonrpc: '2.0', id, method: 'job.list', params: { limit: 1 } });
  const probes = ['null', '1', '"x"', '{}', '[]', 'true'].flatMap((member) =>
    [`[${ok('ok-probe')},${member}]`, `[${member}]`].map((text) => ({ member, text })),
  );
  await Promise.all(
    probes.map(async ({ member, text }) => {
      const conn = await RawConn.open(socketPath, () => {});
      try {
        const answer = conn.waitFor(() => true, 2_000);
        await conn.write(text + '\n');
        const reply = (await answer) as unknown;
        // A one-member batch answered with a bare error object (json-rpc-2.0 does) is fine.
        const items = (reply === undefined ? [] : Array.isArray(reply) ? reply : [reply]) as { id?: unknown; result?: unknown; error?: { code?: number } }[];
        const okAnswered = !text.includes('ok-probe') || items.some((r) => r.id === 'ok-probe' && r.result !== undefined);
        const refused = items.some((r) => r.id === null && r.error?.code === -32600);
        if (!reply)
          w.result.violations.push(
            `RPC batch ${text.replace(ok('ok-probe'), '<valid job.list>')}: no reply at all within 2 s (any valid member is still executed, so a client that retries repeats it)`,
          );
        else if (!okAnswered || !refused)
          w.result.violations.push(
            `RPC batch ${text.replace(ok('ok-probe'), '<valid job.list>')}: wanted the valid member's result and a -32600 for ${member}, got ${JSON.stringify(reply).slice(0, 300)}`,
          );
      } finally {
        conn.close();
      }
    }),
  );
}

// ---------------------------------------------------------------------------------------
// (e) The REST API at the door

/** p99 fire lateness the jobs must keep while the API is fuzzed. */
const API_LATENESS_LIMIT_MS = 1_000;

async function apiAtTheDoor(w: World, params: ScenarioParams): Promise<void> {
  try {
    await apiAtTheDoorInner(w, params);
  } catch (err) {
    const d = w.daemon!;
    if (isAlive(d.proc)) throw err;
    throw new Error(`${(err as Error).message}; the daemon died (${d.proc.exitCode ?? d.proc.signalCode}); the end of its log:\n${tail(d.logFile, 15)}`);
  }
}

async function apiAtTheDoorInner(w: World, params: ScenarioParams): Promise<void> {
  const daemon = w.daemon!;
  // As a user finds it: `globus-timer api url` and `api token`.
  const urlOut = await runCliProcess(['api', 'url', '--format', 'json'], w.cliEnv);
  const tokenOut = await runCliProcess(['api', 'token', '--format', 'json'], w.cliEnv);
  w.cliOutputs.push(urlOut);
  if (urlOut.code !== 0 || tokenOut.code !== 0)
    throw new Error(`api url / api token: exit ${urlOut.code} / ${tokenOut.code}: ${urlOut.stderr}${tokenOut.stderr}`);
  const token = (JSON.parse(tokenOut.stdout) as { token: string }).token;
  w.apiToken = token;
  const door: ApiDoor = apiDoor((JSON.parse(urlOut.stdout) as { url: string }).url, token);
  const preIds = [...w.plainIds, ...w.scopedIds];
  const pidOf = async () => {
    const client = await daemon.connect();
    try {
      return (await client.call('daemon.status', {})).pid;
    } finally {
      client.close();
    }
  };
  const pid = await pidOf();
  const docsBefore = await apiJobDocs(door);
  const defsBefore = await jobDefinitions(daemon);
  for (const id of preIds) if (!docsBefore.has(id)) w.result.violations.push(`API: GET /jobs/ does not list job ${id}`);
  const missedBefore = await missedSlots(() => daemon.connect(), preIds);
  const fromMs = Date.now();
  const probe = startProbe(door, `/jobs/${preIds[0]}`);
  const seed = Math.floor(Math.random() * 2 ** 31);
  let fuzz: Awaited<ReturnType<typeof apiFuzz>>;
  let served: Awaited<ReturnType<typeof probe.stop>>;
  try {
    fuzz = await apiFuzz({
      door,
      jobIds: preIds,
      runUrl: w.plain.runUrl,
      cases: Math.max(0, Math.round(params.apiCases ?? 250)),
      clients: Math.max(1, Math.round(params.apiClients ?? 16)),
      seed,
      log: w.log,
    });
  } finally {
    served = await probe.stop();
  }
  for (const id of fuzz.made) w.strays.add(id);
  w.result.violations.push(...fuzz.violations);
  w.result.notes.push(...fuzz.notes);
  if (!isAlive(daemon.proc))
    throw new Error(
      `the daemon died under the REST API fuzzer (seed ${seed}): exit ${daemon.proc.exitCode ?? daemon.proc.signalCode}; the end of its log:\n${tail(daemon.logFile, 15)}`,
    );
  const pidAfter = await pidOf();
  if (pidAfter !== pid) w.result.violations.push(`API fuzz: the daemon answering is pid ${pidAfter}, not ${pid}`);
  if (served.failures.length)
    w.result.violations.push(
      `API fuzz: a valid client was not served meanwhile: ${served.failures.length} of ${served.failures.length + served.answered} asks failed (${served.failures.slice(0, 5).join('; ')})`,
    );
  w.result.notes.push(`API fuzz: a valid client meanwhile: ${served.answered} answers 200, p50 ${served.p50Ms} ms, max ${served.maxMs} ms`);
  // Runs fired since fromMs, up to a moment after the barrage.
  await sleep(2_000);
  w.result.violations.push(
    ...judgeFiring('API fuzz', await firing(() => daemon.connect(), preIds, fromMs, missedBefore), API_LATENESS_LIMIT_MS, w.result.notes),
  );
  for (const c of changedJobs(preIds, docsBefore, await apiJobDocs(door)).slice(0, 10))
    w.result.violations.push(`API fuzz (seed ${seed}) changed a job's document: ${c}`);
  const { changed, added } = diffDefinitions(defsBefore, await jobDefinitions(daemon));
  for (const c of [...changed, ...added.filter((id) => !fuzz.made.has(id)).map((id) => `job ${id} created, not by a 201 the fuzzer saw`)].slice(0, 10))
    w.result.violations.push(`API fuzz (seed ${seed}) changed the jobs: ${c}`);
  w.log(`API fuzz: done, ${fuzz.violations.length} problem kinds`);
}

// ---------------------------------------------------------------------------------------
// (c) A corrupt token cache

async function corruptTokenCache(w: World): Promise<void> {
  const daemon = w.daemon!;
  const tokensFile = resolvePaths(w.cliEnv).tokensFile;
  const original = fs.readFileSync(tokensFile, 'utf8');
  const plainRuns = w.plain.runRequests().length;
  const garbage = Buffer.concat([Buffer.from('\u0000\u00ff garbage '), Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 131 + 7) & 0xff))]);
  fs.writeFileSync(tokensFile, garbage);
  const t0 = Date.now();
  let docs: JobDocument[] = [];
  try {
    docs = await waitFor(
      'every scoped job to go inactive',
      async () => {
        const client = await daemon.connect();
        try {
          const all = await Promise.all(w.scopedIds.map((id) => client.call('job.get', { job_id: id })));
          return all.every((d) => d.status === 'inactive') && all;
        } finally {
          client.close();
        }
      },
      20_000,
      200,
    );
  } catch (err) {
    w.result.violations.push(`corrupt token cache: ${(err as Error).message}`);
  }
  w.rpcTexts.push(JSON.stringify(docs));
  for (const d of docs) {
    const detail = d.inactive_reason?.detail as { code?: unknown; message?: unknown } | undefined;
    if (d.inactive_reason?.cause !== 'globus_auth_requirements' || detail?.code !== 'TokenCacheInvalid') {
      w.result.violations.push(
        `corrupt token cache: job ${d.job_id} is inactive with ${JSON.stringify(d.inactive_reason)} (wanted globus_auth_requirements / TokenCacheInvalid)`,
      );
    } else if (!String(detail.message).includes('session logout')) {
      w.result.violations.push(`corrupt token cache: job ${d.job_id}'s inactive_reason does not say what to do (session logout): ${String(detail.message)}`);
    }
  }
  if (docs.length)
    w.result.notes.push(`corrupt token cache: ${docs.length} scoped jobs inactive (TokenCacheInvalid) within ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (!isAlive(daemon.proc)) throw new Error('the daemon died on a corrupt token cache');
  try {
    await waitFor('plain jobs to keep firing', () => w.plain.runRequests().length > plainRuns + w.plainIds.length, 10_000);
  } catch {
    w.result.violations.push('corrupt token cache: the jobs without a scope stopped firing');
  }

  // whoami on several kinds of garbage: exit 1, one line naming `session logout`.
  const variants: [string, string | Buffer][] = [
    ['binary garbage', garbage],
    ['truncated JSON', original.slice(0, Math.floor(original.length / 2))],
    ['JSON of the wrong shape', '{"format": "globus-timer-tokens/1", "client_id": 7, "tokens": []}\n'],
    ['an entry without its access token', original.replace(/"access_token":\s*"[^"]*",?/, '')],
    ['an empty file', ''],
  ];
  for (const [what, content] of variants) {
    fs.writeFileSync(tokensFile, content);
    const r = await runCliProcess(['session', 'whoami'], w.cliEnv);
    w.cliOutputs.push(r);
    if (r.code !== 1 || r.stdout !== '' || !/^globus-timer: [^\n]*session logout[^\n]*\n$/.test(r.stderr)) {
      w.result.violations.push(
        `session whoami on a token cache with ${what}: exit ${r.code}, stdout ${JSON.stringify(r.stdout.slice(0, 100))}, stderr ${JSON.stringify(r.stderr.slice(0, 300))} (wanted exit 1 and one line naming session logout)`,
      );
    }
  }
  // And `session logout` is the way out, as the message says.
  fs.writeFileSync(tokensFile, garbage);
  const out = await runCliProcess(['session', 'logout'], w.cliEnv);
  w.cliOutputs.push(out);
  if (out.code !== 0 || fs.existsSync(tokensFile))
    w.result.violations.push(
      `session logout on a corrupt token cache: exit ${out.code}, ${out.stderr.trim()}; file ${fs.existsSync(tokensFile) ? 'still there' : 'gone'}`,
    );
  const who = await runCliProcess(['session', 'whoami'], w.cliEnv);
  w.cliOutputs.push(who);
  if (who.code !== 1 || !/Not logged in/.test(who.stderr))
    w.result.violations.push(`session whoami after logout: exit ${who.code}, ${JSON.stringify(who.stderr.trim())}`);
  if (!isAlive(daemon.proc)) throw new Error('the daemon died while the token cache was replaced');
}

// ---------------------------------------------------------------------------------------
// (d) The database at start: locked, read-only, corrupt

interface StartAttempt {
  outcome: 'exited' | 'started' | 'hung';
  code: number | string | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** `globus-timer daemon run` on `home`: did it fail at start, start serving, or hang? */
async function tryStart(home: string, timeoutMs: number): Promise<StartAttempt> {
  const env = daemonEnv(home, { GLOBUS_TIMER_LOG_LEVEL: 'warn' });
  const socketPath = resolvePaths(env).socketPath;
  const t0 = Date.now();
  const proc = spawnTracked(process.execPath, [BIN, 'daemon', 'run'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const closed = new Promise<void>((resolve) => proc.once('close', () => resolve()));
  let outcome: StartAttempt['outcome'] = 'hung';
  while (Date.now() - t0 < timeoutMs) {
    if (!isAlive(proc)) {
      outcome = 'exited';
      break;
    }
    if (await answers(socketPath)) {
      outcome = 'started';
      break;
    }
    await sleep(50);
  }
  if (outcome !== 'exited') await stopChild(proc, 'SIGTERM', 10_000);
  await Promise.race([closed, sleep(2_000)]);
  return { outcome, code: proc.exitCode ?? proc.signalCode, stdout, stderr, ms: Date.now() - t0 };
}

function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** One start attempt on a bad database, judged; `file` must come out exactly as it went in. */
async function judgeStart(r: ScenarioResult, what: string, home: string, file: string, timeoutMs: number, log: (line: string) => void): Promise<void> {
  const was = fingerprint(file);
  const filesBefore = fs.readdirSync(home).sort().join(' ');
  const a = await tryStart(home, timeoutMs);
  log(`database ${what}: ${a.outcome} (exit ${a.code}) after ${a.ms} ms`);
  const human = a.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('{'));
  if (a.outcome === 'started') {
    r.violations.push(
      `daemon run on a database ${what}: it started and answered on its socket instead of failing at start (files beside it before: ${filesBefore})`,
    );
  } else if (a.outcome === 'hung') {
    r.violations.push(`daemon run on a database ${what}: neither failed nor answered within ${timeoutMs / 1000} s`);
  } else {
    const dir = path.dirname(file);
    if (a.code === 0) r.violations.push(`daemon run on a database ${what}: exit 0`);
    if (a.stdout !== '') r.violations.push(`daemon run on a database ${what}: wrote to stdout ${JSON.stringify(a.stdout.slice(0, 200))}`);
    if (human.length !== 1 || !human[0]!.startsWith('globus-timer: ')) {
      r.violations.push(
        `daemon run on a database ${what}: wanted one "globus-timer: " line on stderr (besides JSON log lines), got ${JSON.stringify(human).slice(0, 400)}`,
      );
    } else if (!human[0]!.includes(dir)) {
      r.violations.push(`daemon run on a database ${what}: the error does not name the database (${file}): ${JSON.stringify(human[0])}`);
    } else {
      r.notes.push(`database ${what}: refused at start in ${a.ms} ms: ${human[0]}`);
    }
  }
  const now = fs.existsSync(file) ? fingerprint(file) : null;
  if (!now) r.violations.push(`daemon run on a database ${what}: the database file is gone`);
  else if (now.ino !== was.ino)
    r.violations.push(`daemon run on a database ${what}: the file was replaced (inode ${was.ino} → ${now.ino}, ${was.size} → ${now.size} bytes)`);
  else if (now.size < was.size) r.violations.push(`daemon run on a database ${what}: the file shrank from ${was.size} to ${now.size} bytes`);
  else if (a.outcome === 'exited' && now.hash !== was.hash)
    r.violations.push(
      `daemon run on a database ${what}: it failed at start, but wrote to the file first (same inode, ${was.size} → ${now.size} bytes, SHA-256 changed)`,
    );
}

async function databaseAtStart(r: ScenarioResult, dbFile: string, home: string, log: (line: string) => void): Promise<void> {
  const timeoutMs = 15_000;
  // A settled file with no WAL beside it: copies are then whole databases.
  {
    const db = new Database(dbFile);
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
  }
  const isRoot = process.getuid?.() === 0;

  // Locked by another process: a write transaction held, and an exclusive lock held.
  {
    const holder = new Database(dbFile);
    holder.pragma('busy_timeout = 0');
    holder.exec('BEGIN EXCLUSIVE');
    holder.exec('CREATE TABLE torture_lock_probe (x)'); // mid-write: rolled back below
    try {
      await judgeStart(r, 'with a write transaction held by another process (BEGIN EXCLUSIVE)', home, dbFile, timeoutMs, log);
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
    const exclusive = new Database(dbFile);
    exclusive.pragma('locking_mode = EXCLUSIVE');
    exclusive.exec('BEGIN EXCLUSIVE');
    exclusive.exec('CREATE TABLE torture_lock_probe (x)');
    try {
      await judgeStart(r, 'locked exclusively by another process (locking_mode=EXCLUSIVE)', home, dbFile, timeoutMs, log);
    } finally {
      exclusive.exec('ROLLBACK');
      exclusive.close();
    }
  }

  // Read-only: chmod does not stop root, so as root the file is made immutable and the
  // directory a read-only bind mount; otherwise plain modes.
  const copy = (label: string): { dir: string; file: string } => {
    const dir = makeTempDir(`gtbd-${label}-`);
    const file = path.join(dir, 'timer.db');
    fs.copyFileSync(dbFile, file);
    fs.chmodSync(file, 0o600);
    return { dir, file };
  };
  if (isRoot) {
    const f = copy('immutable');
    let immutable = false;
    try {
      execFileSync('chattr', ['+i', f.file], { stdio: 'pipe' });
      immutable = true;
    } catch (err) {
      r.skipped.push(`read-only database file: chattr +i failed as root (${(err as Error).message.split('\n')[0]}); chmod does not stop root`);
    }
    try {
      if (immutable) await judgeStart(r, 'file that cannot be written (chattr +i)', f.dir, f.file, timeoutMs, log);
    } finally {
      if (immutable) execFileSync('chattr', ['-i', f.file], { stdio: 'pipe' });
      removeTempDir(f.dir);
    }
    const d = copy('robind');
    let mounted = false;
    try {
      execFileSync('mount', ['--bind', d.dir, d.dir], { stdio: 'pipe' });
      mounted = true;
      execFileSync('mount', ['-o', 'remount,bind,ro', d.dir, d.dir], { stdio: 'pipe' });
      await judgeStart(r, 'in a read-only directory (read-only bind mount)', d.dir, d.file, timeoutMs, log);
    } catch (err) {
      if (!mounted || !/remount/.test(String((err as Error).message)))
        r.skipped.push(`read-only directory: a read-only bind mount failed (${(err as Error).message.split('\n')[0]})`);
      else throw err;
    } finally {
      if (mounted) {
        try {
          execFileSync('umount', [d.dir], { stdio: 'pipe' });
        } catch {
          execFileSync('umount', ['-l', d.dir], { stdio: 'pipe' });
        }
      }
      removeTempDir(d.dir);
    }
  } else {
    const f = copy('ro');
    try {
      fs.chmodSync(f.file, 0o400);
      await judgeStart(r, 'file of mode 0400', f.dir, f.file, timeoutMs, log);
      fs.chmodSync(f.file, 0o600);
      fs.chmodSync(f.dir, 0o500);
      await judgeStart(r, 'in a directory of mode 0500', f.dir, f.file, timeoutMs, log);
    } finally {
      fs.chmodSync(f.dir, 0o700);
      removeTempDir(f.dir);
    }
  }

  // Corrupt copies: the header overwritten or cut, and one b-tree's root page overwritten.
  const pageOf = (() => {
    const db = new Database(dbFile, { readonly: true });
    try {
      const pageSize = db.pragma('page_size', { simple: true }) as number;
      const roots = new Map(
        (db.prepare('SELECT name, rootpage FROM sqlite_master WHERE rootpage > 0').all() as { name: string; rootpage: number }[]).map((x) => [
          x.name,
          x.rootpage,
        ]),
      );
      return { pageSize, roots };
    } finally {
      db.close();
    }
  })();
  const overwrite = (file: string, offset: number, length: number) => {
    const buf = Buffer.alloc(length);
    for (let i = 0; i < length; i++) buf[i] = (i * 7919 + 13) & 0xff;
    const fd = fs.openSync(file, 'r+');
    try {
      fs.writeSync(fd, buf, 0, length, offset);
    } finally {
      fs.closeSync(fd);
    }
  };
  const corruptions: [string, (file: string) => void][] = [
    ['whose header is overwritten', (f) => overwrite(f, 0, 100)],
    ['cut off inside its header (60 bytes left)', (f) => fs.truncateSync(f, 60)],
  ];
  for (const table of ['jobs', 'runs', 'jobs_next_run_at']) {
    const root = pageOf.roots.get(table);
    if (root === undefined) r.skipped.push(`corrupt database: no b-tree named ${table} to overwrite`);
    else corruptions.push([`whose ${table} b-tree root page (${root}) is overwritten`, (f) => overwrite(f, (root - 1) * pageOf.pageSize, pageOf.pageSize)]);
  }
  // Each in its own copy, so they can start side by side.
  await Promise.all(
    corruptions.map(async ([what, corrupt]) => {
      const c = copy('corrupt');
      try {
        corrupt(c.file);
        await judgeStart(r, what, c.dir, c.file, timeoutMs, log);
      } finally {
        removeTempDir(c.dir);
      }
    }),
  );
}
