/**
 * Security (issue #5 item 6). The daemon is started the way a user does, detached with
 * `globus-timer daemon start` (so it logs to files), under the common user umask 002, with
 * jobs that have a scope firing at a loopback provider that accepts only the fake Globus
 * Auth's tokens (which live 3 s, so the daemon refreshes them all the time), plus jobs
 * without one. Checked:
 *
 * - Modes (SPEC §6): the state directory and log directory 0700; the socket, database,
 *   -wal, -shm, token cache, pid file and log files 0600; nothing under the state directory
 *   open to group or others.
 * - A second local user (created with `useradd` when root, removed afterwards; skipped
 *   otherwise) cannot connect to the socket, neither through the 0700 directory nor, with
 *   the directory opened up, through the socket's own 0600; nor read the database or tokens.
 * - Secrets: no access or refresh token Auth issued (nor a login code) appears in the log
 *   files, any CLI output, any RPC result or error, the job documents, or the database
 *   file, after refreshes, a 401 that a refresh cures, a 400 from the provider, and a
 *   revoked login that makes the jobs inactive. Then a provider that echoes the bearer
 *   token in its error body: the echoed token must not reach the log, the job documents or
 *   the database either (reported separately, as its own case).
 * - `http://` action URLs to non-loopback hosts are refused by the CLI (exit 2) and by the
 *   RPC (INVALID_INPUT), and no job is created.
 * - A hostile provider (issue 11): a third loopback provider whose introspection names the
 *   user's Transfer scope, then `openid`, then a Transfer scope with a data_access
 *   dependency. `job submit` without `--scope`, and with that scope named, is exit 2 with
 *   one line and creates no job; `job.submit` over RPC is INVALID_INPUT. Jobs planted in the
 *   database as an older globus-timer left them (`insertJob`: those three scopes at the
 *   hostile URL) send nothing: their runs fail TOKEN_DESTINATION_REFUSED and the jobs go
 *   inactive with cause `token_destination`. At the end, no request the provider ever got
 *   carries an Authorization header, an issued token or a login code.
 * - A planted runtime directory: XDG_RUNTIME_DIR (ours, 0700) holding `globus-timer/` made
 *   and owned by the second user (world-writable 0777 when not root) with a listening socket
 *   of theirs that counts connections. Through that environment (autostart allowed) `job
 *   list` and `daemon status` exit 1 with one line naming the directory, start no daemon,
 *   and RpcClient.connect says UNSAFE_PATH; `daemon run` refuses to start; the socket gets
 *   no connection and the directory and socket keep their owner and mode. And without
 *   XDG_RUNTIME_DIR and GLOBUS_TIMER_HOME the socket resolves into the user's own data
 *   directory (resolvePaths, and what `daemon status` reports), not the shared temp dir.
 * - A planted log symlink: a state directory whose `logs/daemon.1.log` links to a victim
 *   file (the second user's when root); `globus-timer daemon start` refuses (non-zero, one
 *   line naming the link), no daemon answers, and the victim's bytes and mtime are unchanged.
 * - The REST API at the door (issue 14 item 9; `daemon start` with GLOBUS_TIMER_API_ADDR on a
 *   free loopback port; torture/lib/api-flood.ts): `apiFlood` requests with wrong, missing and
 *   almost-right tokens (and the right one in the wrong place) from `apiClients` connections
 *   at once, at every route: each a 401 JSON with WWW-Authenticate and the connection closed;
 *   `apiHeld` connections held open without a byte; `apiSlow` clients sending a byte a second
 *   (headers, or a body) cut off by the server's timeouts (10 s / 30 s, so only in the long
 *   size); meanwhile a valid client is served. Then the daemon is the same process, the jobs
 *   fired on time (no slot missed, p99 lateness under a second), no job's document changed,
 *   and neither the API token nor any wrong token sent appears in the logs or state files.
 * At the end every job is deleted (nothing in flight), `globus-timer daemon stop`, verify().
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { makeTempDir, removeTempDir, sleep } from '../../bench/lib/procs.ts';
import { tail } from '../../bench/lib/ipc.ts';
import { TRANSFER_SCOPE } from '../../src/core/scopes.ts';
import { ALLOW_HTTP_TOKENS_ENV, tokenRulesFromEnv } from '../../src/auth/token-rules.ts';
import { resolveConfig } from '../../src/config/config.ts';
import { resolvePaths, type AppPaths } from '../../src/config/paths.ts';
import { insertJob } from '../../src/daemon/store/jobs.ts';
import { openDb } from '../../src/daemon/store/open.ts';
import { ERROR_CODES, TimerError } from '../../src/core/errors.ts';
import { JobService } from '../../src/daemon/jobs/job-service.ts';
import { isAnswering, RpcClient } from '../../src/contract/client.ts';
import type { JobDocument, JobPage } from '../../src/contract/protocol.ts';
import { systemClock } from '../../src/core/clock.ts';
import { startFakeAuth, type FakeAuth } from '../../test/support/auth.ts';
import { ROOT, runCliProcess, type CliResult } from '../../test/support/env.ts';
import { startFakeProvider, type FakeProvider, type Reply } from '../../test/support/provider.ts';
import { emptyResult, type Scenario, type ScenarioParams, type ScenarioResult } from '../lib/scenario.ts';
import { snapshotJobs, verify, type JobDefinition } from '../lib/verify.ts';
import { waitFor } from '../lib/util.ts';
import { API_ADDR_ENV } from '../../src/core/api-addr.ts';
import { apiDoor, apiJobDocs, changedJobs, firing, judgeFiring, missedSlots } from '../lib/api.ts';
import { apiFlood } from '../lib/api-flood.ts';

const NAME = 'security';
const SRC = '000a11ce-0000-1000-8000-000000000003';
const DST = '000a11ce-0000-1000-8000-000000000002';
/** The usual umask of a user with a private group (Debian, Ubuntu, Fedora). */
const USER_UMASK = 0o002;
const TOKEN_LIFETIME_S = 3;
/**
 * Scopes of Globus services that a provider elsewhere names to get the user's token: the
 * Transfer scope, an Auth (OpenID Connect) scope, and Transfer with a dependent scope.
 */
const HOSTILE_SCOPES = [TRANSFER_SCOPE, 'openid', `${TRANSFER_SCOPE}[*https://auth.globus.org/scopes/${DST}/data_access]`];

export const security: Scenario = {
  name: NAME,
  describe:
    'file modes, a second local user at the socket, no token in logs/RPC/job documents/errors/database, http:// action URLs refused, ' +
    'a hostile provider naming Globus scopes (no job, no token), a planted runtime directory and socket, a planted log symlink, ' +
    'the REST API under wrong tokens at a high rate, held and slow connections',
  fast: { jobs: 8, apiFlood: 600, apiClients: 32, apiHeld: 16, apiSlow: 0 },
  long: { jobs: 100, apiFlood: 20_000, apiClients: 96, apiHeld: 100, apiSlow: 6 },
  paramHelp: {
    jobs: 'jobs firing (half with a scope, 1–2 s intervals) while tokens are refreshed, refused and revoked',
    apiFlood: 'REST API requests with a wrong, missing or almost-right token',
    apiClients: 'REST API connections at once for them',
    apiHeld: 'connections held open without sending a byte meanwhile (the server takes 256 at most)',
    apiSlow: 'slow clients sending a byte a second (cut off at 10 s in the headers, 30 s in a body; 0: none)',
  },
  run,
};

interface World {
  result: ScenarioResult;
  log: (line: string) => void;
  auth: FakeAuth;
  scoped: FakeProvider;
  plain: FakeProvider;
  /** A provider at a foreign host that names Globus services' scopes (issue 11). */
  hostile: FakeProvider;
  paths: AppPaths;
  env: NodeJS.ProcessEnv;
  /** The scenario's temp directory (0700, ours): the other environments live under it. */
  home: string;
  /** A second local user (made with useradd when root), or why there is none. */
  other: OtherUser | { skipped: string };
  /** Everything printed or answered, to search for secrets. */
  outputs: string[];
  /** One-time login codes the user pasted (secret too: never to be printed). */
  codes: string[];
}

/** The CLI as a real process, under the user's umask; its output is kept for the secret search. */
async function cli(w: World, args: string[], answer?: (stdout: string) => string | undefined, env: NodeJS.ProcessEnv = w.env): Promise<CliResult> {
  const old = process.umask(USER_UMASK);
  let pending: Promise<CliResult>;
  try {
    pending = runCliProcess(args, env, answer); // spawns synchronously: the child gets the umask
  } finally {
    process.umask(old);
  }
  const r = await pending;
  w.outputs.push(`$ globus-timer ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
  return r;
}

async function rpc(w: World): Promise<RpcClient> {
  return RpcClient.connect(w.paths.socketPath, { timeoutMs: 30_000 });
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

/** Everything RPC hands out: every job document in full, the status, the errors. */
async function rpcEverything(w: World): Promise<void> {
  const client = await rpc(w);
  try {
    const jobs = await allJobs(client);
    w.outputs.push(JSON.stringify(jobs));
    for (const j of jobs) w.outputs.push(JSON.stringify(await client.call('job.get', { job_id: j.job_id })));
    w.outputs.push(JSON.stringify(await client.call('daemon.status', {})));
  } finally {
    client.close();
  }
}

function bearer(headers: Record<string, unknown>): string | undefined {
  return /^Bearer (.+)$/.exec(String(headers.authorization ?? ''))?.[1];
}

/** Where each secret appears: [secret, place] pairs. */
function leaks(secrets: readonly string[], places: [string, string][]): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>();
  for (const [where, text] of places) {
    for (const s of secrets) {
      if (s && text.includes(s)) (found.get(where) ?? found.set(where, new Set()).get(where)!).add(s);
    }
  }
  return found;
}

function stateFiles(w: World): [string, string][] {
  const places: [string, string][] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      // The token cache is where tokens belong; everything else must be free of them.
      else if (e.isFile() && p !== w.paths.tokensFile && !p.startsWith(`${w.paths.tokensFile}.`))
        places.push([`${path.relative(w.paths.dataDir, p)}`, fs.readFileSync(p).toString('latin1')]);
    }
  };
  walk(w.paths.dataDir);
  return places;
}

async function run(params: ScenarioParams, log: (line: string) => void): Promise<ScenarioResult> {
  const nJobs = Math.max(2, Math.round(params.jobs ?? 8));
  const result = emptyResult(NAME);
  let final: ScenarioResult = result;
  const cleanups: (() => Promise<void> | void)[] = [];
  try {
    const auth = await startFakeAuth();
    cleanups.push(() => auth.close());
    auth.expiresInSeconds = TOKEN_LIFETIME_S;
    const scoped = await startFakeProvider();
    cleanups.push(() => scoped.close());
    const plain = await startFakeProvider();
    cleanups.push(() => plain.close());
    // Loopback like the others, but at a host (port) that serves no Globus service here: the
    // Transfer host of this environment is the scoped provider's (GLOBUS_TIMER_TRANSFER_ACTION_URL).
    const hostile = await startFakeProvider();
    cleanups.push(() => hostile.close());
    hostile.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 0, final: 'SUCCEEDED' };
    scoped.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 1, final: 'SUCCEEDED' };
    plain.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 0, final: 'SUCCEEDED' };
    scoped.introspectionScope = TRANSFER_SCOPE;
    /** Set: the next run request the provider accepts is answered 400 with its bearer token echoed in the body. */
    let echoNext = false;
    const echoed: string[] = [];
    let echoReply: Reply | null = null;
    scoped.auth = {
      scope: TRANSFER_SCOPE,
      accepts: (token, scope) => {
        const ok = auth.accepts(token, scope);
        // The request being checked is the one just recorded: echo only into a run request's own answer.
        const current = scoped.requests.at(-1);
        const isRun = current?.method === 'POST' && current.path.endsWith('/run') && bearer(current.headers) === token;
        if (ok && echoNext && token && isRun) {
          echoNext = false;
          echoed.push(token);
          echoReply = {
            kind: 'raw',
            httpStatus: 400,
            body: { code: 'BadRequest', description: `rejected request with header "Authorization: Bearer ${token}"`, token },
          };
          scoped.runReplies.unshift(echoReply);
        }
        return ok;
      },
    };

    const home = makeTempDir('gtsec-');
    cleanups.push(() => removeTempDir(home));
    const other = createOtherUser();
    if ('uid' in other) cleanups.push(() => removeOtherUser(other, result));
    const userHome = path.join(home, 'user');
    fs.mkdirSync(userHome);
    const stateDir = path.join(home, 'state');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      GLOBUS_TIMER_HOME: stateDir,
      HOME: userHome,
      GLOBUS_SDK_SERVICE_URL_AUTH: auth.baseUrl,
      GLOBUS_TIMER_TRANSFER_ACTION_URL: scoped.runUrl,
      [ALLOW_HTTP_TOKENS_ENV]: '1',
      GLOBUS_TIMER_NO_AUTOSTART: '1',
      GLOBUS_TIMER_LOG_LEVEL: 'debug',
      GLOBUS_TIMER_TOKEN_REFRESH_MARGIN_MS: '1000',
      GLOBUS_TIMER_POLL_INITIAL_MS: '50',
      GLOBUS_TIMER_POLL_MAX_MS: '200',
      GLOBUS_TIMER_RETRY_INITIAL_MS: '50',
      GLOBUS_TIMER_RETRY_MAX_MS: '200',
    };
    for (const k of ['DISPLAY', 'WAYLAND_DISPLAY', 'GLOBUS_TIMER_CLIENT_ID', 'GLOBUS_TIMER_CLIENT_SECRET', 'XDG_CONFIG_HOME']) delete env[k];
    const paths = resolvePaths(env);
    const w: World = { result, log, auth, scoped, plain, hostile, paths, env, home, other, outputs: [], codes: [] };

    // The state directory is made by the first command that needs it (session login, under
    // the user's umask), 0700. It used to be made here 0775 and tightened by the daemon; a
    // directory globus-timer did not create is now refused when too open, never chmod-ed
    // (issue 11).

    const login = await cli(w, ['session', 'login', '--no-browser'], (stdout) => {
      const url = /https?:\/\/\S+\/v2\/oauth2\/authorize\?\S+/.exec(stdout)?.[0];
      if (!url) return undefined;
      const code = auth.approve(url);
      w.codes.push(code);
      return code;
    });
    if (login.code !== 0) throw new Error(`session login failed (${login.code}): ${login.stderr}`);

    // Jobs before the daemon first runs: half with a scope.
    const scopedIds: string[] = [];
    const plainIds: string[] = [];
    const hostileIds: string[] = [];
    {
      const db = openDb(paths.dbFile);
      try {
        const service = new JobService({ db, clock: systemClock, config: resolveConfig({}), onScheduleChange: () => {}, tokenRules: tokenRulesFromEnv(env) });
        const t0 = Date.now() + 3_000;
        for (let i = 0; i < nJobs; i++) {
          const isScoped = i % 2 === 0;
          const doc = service.submit({
            name: `${isScoped ? 'scoped' : 'plain'}-${i}`,
            start: new Date(t0 + Math.floor((i * 1000) / nJobs)).toISOString(),
            interval_seconds: 1 + (i % 2),
            callback_url: isScoped ? scoped.runUrl : plain.runUrl,
            callback_body: { body: { job: i } },
            scope: isScoped ? TRANSFER_SCOPE : null,
          });
          (isScoped ? scopedIds : plainIds).push(doc.job_id);
        }
        // Jobs as an older globus-timer (no token rules) left them: a Globus service's scope
        // at the hostile provider's URL, straight into the table (JobService.submit refuses them now).
        HOSTILE_SCOPES.forEach((scope, i) => {
          const startAtMs = t0 + 200 * i;
          const nowMs = Date.now();
          const row = insertJob(db, {
            id: randomUUID(),
            name: `planted-hostile-${i}`,
            startAtMs,
            intervalSeconds: 1,
            cron: null,
            timezone: null,
            stopAfterDateMs: null,
            stopAfterRuns: null,
            scope,
            callbackUrl: hostile.runUrl,
            callbackBody: { body: { planted: i } },
            overlap: 'skip',
            misfire: 'coalesce',
            status: 'loaded',
            submittedAtMs: nowMs,
            nextSlotIndex: 0,
            nextRunAtMs: startAtMs,
            updatedAtMs: nowMs,
          });
          hostileIds.push(row.id);
        });
      } finally {
        db.$client.close();
      }
    }
    const before = snapshotJobs(paths.dbFile);

    // Detached, as a user starts it: it logs to files under the state directory. With the
    // REST API on a free loopback port (only this command's environment says so).
    const started = await cli(w, ['daemon', 'start'], undefined, { ...env, [API_ADDR_ENV]: '127.0.0.1:0' });
    cleanups.push(() => killDetached(paths));
    if (started.code !== 0) throw new Error(`daemon start failed (${started.code}): ${started.stderr}`);
    log(`daemon started detached: ${started.stdout.trim()}`);

    // Two more jobs through the CLI, the way a user submits them (their first slot is ahead,
    // so their snapshot is taken before they run).
    const start = new Date(Date.now() + 4_000).toISOString();
    const submitted = await cli(w, [
      'job',
      'submit',
      '--name',
      'cli-scoped',
      '--interval',
      '2',
      '--start',
      start,
      '--action-url',
      scoped.runUrl,
      '--action-body',
      '{"body": {"from": "cli"}}',
      '--format',
      'json',
    ]);
    const transferred = await cli(w, [
      'job',
      'transfer',
      '--name',
      'cli-transfer',
      '--interval',
      '2',
      '--start',
      start,
      '--source-endpoint',
      SRC,
      '--dest-endpoint',
      DST,
      '--item',
      '/a',
      '/b',
      'true',
      '--format',
      'json',
    ]);
    for (const [what, r] of [
      ['job submit', submitted],
      ['job transfer', transferred],
    ] as const) {
      if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stderr}`);
      const job = JSON.parse(r.stdout) as JobDocument;
      if (job.scope !== TRANSFER_SCOPE) result.violations.push(`${what}: the job's scope is ${job.scope}, not the provider's ${TRANSFER_SCOPE}`);
      scopedIds.push(job.job_id);
      const snap = snapshotJobs(paths.dbFile).get(job.job_id);
      if (!snap) throw new Error(`${what}: job ${job.job_id} not in the database`);
      before.set(job.job_id, snap as JobDefinition);
    }

    // Refreshes happen by themselves (3 s tokens); then Auth drops every access token early,
    // so the provider answers 401 and one refresh cures it.
    await waitFor(
      'scoped runs with at least two different tokens',
      () => new Set(scoped.runRequests().map((r) => bearer(r.headers))).size >= 2 && auth.grants.refresh_token >= 1,
      30_000,
    );
    // A long-lived token next, so that the daemon's cache still trusts it when Auth drops it.
    auth.expiresInSeconds = 3_600;
    const refreshes = auth.grants.refresh_token;
    await waitFor('one more refresh (a long-lived token)', () => auth.grants.refresh_token > refreshes, 20_000);
    await sleep(300);
    const requestsBefore401 = scoped.requests.length;
    auth.expireAccessTokens();
    // The next request (a run or a status poll) carries the dropped token and gets 401; the
    // same request is then repeated with a refreshed one.
    const key = (r: (typeof scoped.requests)[number]) => `${r.method} ${r.path} ${(r.body as { request_id?: string } | undefined)?.request_id ?? ''}`;
    await waitFor(
      'a request refused with 401 and repeated with a refreshed token',
      () => {
        const later = scoped.requests.slice(requestsBefore401);
        const refused = later.findIndex((r) => !auth.accepts(bearer(r.headers), TRANSFER_SCOPE));
        return refused !== -1 && later.slice(refused + 1).some((r) => key(r) === key(later[refused]!) && auth.accepts(bearer(r.headers), TRANSFER_SCOPE));
      },
      30_000,
    );
    log(`tokens refreshed ${auth.grants.refresh_token} times; a 401 was cured by a refresh`);

    // A provider failure with a body (400) on an ordinary run.
    scoped.runReplies.push({ kind: 'raw', httpStatus: 400, body: { code: 'BadRequest', description: 'the transfer was refused by the endpoint' } });

    await checkModes(w, true);
    await secondUser(w);
    await httpRefused(w);
    await hostileSubmissions(w);
    await hostileJobsInactive(w, hostileIds);
    await plantedRuntimeDir(w);
    await socketWithoutRuntimeDir(w);
    await plantedLogSymlink(w);
    await sleep(1_000);
    const apiSecrets = await apiUnderAttack(w, params, [...scopedIds, ...plainIds, ...hostileIds]);

    // Phase 1: no secret anywhere, before the echoing provider.
    await rpcEverything(w);
    for (const id of scopedIds.slice(0, 2)) await cli(w, ['job', 'status', id, '-v']);
    await cli(w, ['job', 'status', '--all']);
    await cli(w, ['daemon', 'status']);
    await cli(w, ['daemon', 'logs', '-n', '1000']);
    await cli(w, ['session', 'whoami', '--format', 'json']);
    secretCheck(w, auth.issuedSecrets(), '');
    const issuedBeforeEcho = new Set(auth.issuedSecrets());

    // A provider that echoes the bearer token in its error body, then a revoked login: the
    // refresh is refused and the scoped jobs go inactive.
    echoNext = true;
    await waitFor('the echoing provider to answer a run request', () => echoReply !== null && !scoped.runReplies.includes(echoReply), 20_000);
    await sleep(500);
    auth.revokeAll();
    await waitFor(
      'every scoped job inactive after the login was revoked',
      async () => {
        const client = await rpc(w);
        try {
          const docs = await Promise.all(scopedIds.map((id) => client.call('job.get', { job_id: id })));
          return docs.every((d) => d.status === 'inactive') && docs;
        } finally {
          client.close();
        }
      },
      30_000,
      250,
    ).then((docs) => {
      for (const d of docs) {
        const code = (d.inactive_reason?.detail as { code?: unknown } | undefined)?.code;
        if (d.inactive_reason?.cause !== 'globus_auth_requirements')
          result.violations.push(`job ${d.job_id} inactive for ${JSON.stringify(d.inactive_reason)} after the login was revoked`);
        else if (code !== 'LoginRequired') result.notes.push(`job ${d.job_id} went inactive with ${String(code)} after the login was revoked`);
      }
    });

    // Settle: delete every job with the CLI, let runs in flight end, stop with the CLI.
    const all = [...scopedIds, ...plainIds, ...hostileIds];
    const deleted = await cli(w, ['job', 'delete', ...all]);
    if (deleted.code !== 0) result.violations.push(`job delete failed (${deleted.code}): ${deleted.stderr}`);
    {
      const client = await rpc(w);
      try {
        await waitFor('no run in flight', async () => (await client.call('daemon.status', {})).runs_in_flight === 0, 20_000, 200);
      } finally {
        client.close();
      }
    }
    await rpcEverything(w);
    for (const id of scopedIds.slice(0, 3)) await cli(w, ['job', 'status', id, '-v']);
    await cli(w, ['job', 'list', '--show-deleted', '-v']);
    await cli(w, ['daemon', 'logs', '-n', '100000']);
    const stopped = await cli(w, ['daemon', 'stop']);
    if (stopped.code !== 0) result.violations.push(`daemon stop failed (${stopped.code}): ${stopped.stderr}`);
    await checkModes(w, false);

    // Phase 2: after the echo and the revocation. Echoed tokens are their own case.
    const echoSet = new Set(echoed);
    secretCheck(
      w,
      auth.issuedSecrets().filter((s) => !echoSet.has(s)),
      'after a revoked login',
    );
    secretCheck(w, echoed, 'echoed by a provider in its 400 error body', true);
    if (echoed.length === 0) result.violations.push('the echoing provider never answered: that case checked nothing');
    if (issuedBeforeEcho.size === 0) result.violations.push('the fake Auth issued no token: the secret search checked nothing');
    hostileGotNoToken(w);
    apiSecretsKept(w, apiSecrets);
    result.notes.push(
      `${auth.issuedSecrets().length} tokens issued (${auth.grants.refresh_token} refreshes) searched in ${w.outputs.length} outputs and every file of the state directory`,
    );

    const verified = verify(NAME, paths.dbFile, [...scoped.runRequests(), ...plain.runRequests(), ...hostile.runRequests()], before);
    final = {
      ...verified,
      violations: [...result.violations, ...verified.violations],
      notes: [...result.notes, ...verified.notes],
      skipped: [...result.skipped, ...verified.skipped],
    };
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

// ---------------------------------------------------------------------------------------
// The REST API under attack

/** p99 fire lateness the jobs must keep while the API is hammered. */
const API_LATENESS_LIMIT_MS = 1_000;

/** The flood, the held and slow connections; returns the API token and the wrong tokens sent (secrets). */
async function apiUnderAttack(w: World, params: ScenarioParams, jobIds: string[]): Promise<string[]> {
  const urlOut = await cli(w, ['api', 'url', '--format', 'json']);
  // Read, not printed into w.outputs (which are searched for Auth's secrets, not this one).
  const tokenOut = await runCliProcess(['api', 'token', '--format', 'json'], w.env);
  if (urlOut.code !== 0 || tokenOut.code !== 0)
    throw new Error(`api url / api token: exit ${urlOut.code} / ${tokenOut.code}: ${urlOut.stderr}${tokenOut.stderr}`);
  const token = (JSON.parse(tokenOut.stdout) as { token: string }).token;
  const door = apiDoor((JSON.parse(urlOut.stdout) as { url: string }).url, token);
  const status = async () => {
    const client = await rpc(w);
    try {
      return await client.call('daemon.status', {});
    } finally {
      client.close();
    }
  };
  const pid = (await status()).pid;
  const docsBefore = await apiJobDocs(door);
  for (const id of jobIds) if (!docsBefore.has(id)) w.result.violations.push(`API: GET /jobs/ does not list job ${id}`);
  const missedBefore = await missedSlots(() => rpc(w), jobIds);
  const fromMs = Date.now();
  const seed = Math.floor(Math.random() * 2 ** 31);
  const flood = await apiFlood({
    door,
    jobIds,
    runUrl: w.plain.runUrl,
    requests: Math.max(0, Math.round(params.apiFlood ?? 600)),
    clients: Math.max(1, Math.round(params.apiClients ?? 32)),
    held: Math.max(0, Math.round(params.apiHeld ?? 16)),
    slow: Math.max(0, Math.round(params.apiSlow ?? 0)),
    seed,
    log: w.log,
  });
  w.result.violations.push(...flood.violations.map((v) => `API (seed ${seed}): ${v}`));
  w.result.notes.push(...flood.notes.map((n) => `API: ${n}`));
  let after: Awaited<ReturnType<typeof status>>;
  try {
    after = await status();
  } catch (err) {
    const logFile = path.join(w.paths.logDir, 'current.log');
    throw new Error(
      `the daemon (pid ${pid}) does not answer after the API flood (seed ${seed}): ${(err as Error).message}; the end of its log:\n${tail(logFile, 15)}`,
    );
  }
  if (after.pid !== pid) w.result.violations.push(`API: the daemon answering after the flood is pid ${after.pid}, not ${pid}`);
  try {
    process.kill(pid, 0);
  } catch {
    w.result.violations.push(`API: daemon pid ${pid} is gone after the flood`);
  }
  // A valid client is still served, and sees every job as it was.
  await sleep(2_000);
  w.result.violations.push(...judgeFiring('API flood', await firing(() => rpc(w), jobIds, fromMs, missedBefore), API_LATENESS_LIMIT_MS, w.result.notes));
  for (const c of changedJobs(jobIds, docsBefore, await apiJobDocs(door)).slice(0, 10)) w.result.violations.push(`API flood changed a job's document: ${c}`);
  w.log(`API flood: ${flood.violations.length} problem kinds`);
  return [token, ...flood.wrongTokens];
}

/** Neither the API token nor a wrong token sent appears in any log or state file (the token file aside), nor in CLI/RPC output. */
function apiSecretsKept(w: World, secrets: readonly string[]): void {
  const [token] = secrets;
  if (!token) return;
  const places = [
    ...w.outputs.map((o, i): [string, string] => [`CLI/RPC output #${i}`, o]),
    ...stateFiles(w).filter(([p]) => path.join(w.paths.dataDir, p) !== w.paths.apiTokenFile),
  ];
  const logs = places.filter(([p]) => p.includes('log'));
  if (logs.length === 0) w.result.violations.push('no log file found under the state directory: the API token search in the logs checked nothing');
  for (const [where, set] of leaks(secrets, places))
    w.result.violations.push(
      `${[...set].map((s) => (s === token ? "the REST API's bearer token" : 'a wrong token sent to the API')).join(', ')} appear(s) in ${where}`,
    );
}

/** The detached daemon is not our child: stop it by the pid in its lock file, if it is still there. */
async function killDetached(paths: AppPaths): Promise<void> {
  let pid: number;
  try {
    pid = Number.parseInt(fs.readFileSync(paths.lockFile, 'utf8'), 10);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 1) return;
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && alive(); i++) await sleep(100);
  if (alive()) process.kill(pid, 'SIGKILL');
}

function secretCheck(w: World, secrets: readonly string[], when: string, echo = false): void {
  const places: [string, string][] = [
    ...w.outputs.map((o, i): [string, string] => [`CLI/RPC output #${i} (${o.split('\n')[0]!.slice(0, 60)})`, o]),
    ...stateFiles(w),
  ];
  const found = leaks([...secrets, ...(echo ? [] : w.codes)], places);
  if (echo && found.size) {
    w.result.violations.push(
      `a provider echoed the bearer token in its 400 error body, and the daemon kept and showed it: in ${[...found.keys()].join('; ')} ` +
        '(it should redact the token it sent from the provider error it stores, logs and returns)',
    );
    return;
  }
  for (const [where, set] of found) w.result.violations.push(`${set.size} secret(s) issued by Globus Auth${when ? ` (${when})` : ''} appear in ${where}`);
}

// ---------------------------------------------------------------------------------------
// Modes

function modeOf(p: string): number {
  return fs.lstatSync(p).mode & 0o777;
}

async function checkModes(w: World, running: boolean): Promise<void> {
  const { paths } = w;
  const want: [string, string, number, boolean][] = [
    ['state directory', paths.dataDir, 0o700, true],
    ['socket directory', paths.runtimeDir, 0o700, running],
    ['socket', paths.socketPath, 0o600, running],
    ['database', paths.dbFile, 0o600, true],
    ['database -wal', `${paths.dbFile}-wal`, 0o600, running],
    ['database -shm', `${paths.dbFile}-shm`, 0o600, running],
    ['pid file', paths.lockFile, 0o600, running],
    ['token cache', paths.tokensFile, 0o600, true],
    ['log directory', paths.logDir, 0o700, true],
  ];
  for (const [what, p, mode, required] of want) {
    if (!fs.existsSync(p)) {
      if (required) w.result.violations.push(`${what} ${p} does not exist${running ? ' while the daemon runs' : ''}`);
      continue;
    }
    const m = modeOf(p);
    if (m !== mode) w.result.violations.push(`${what} ${p} has mode ${m.toString(8)}, SPEC §6 wants ${mode.toString(8)}${running ? '' : ' (after stop)'}`);
  }
  // Log files: every regular file in the log directory (current.log is a link to one).
  const logs = fs.existsSync(paths.logDir) ? fs.readdirSync(paths.logDir) : [];
  if (!logs.some((f) => /\.log$/.test(f))) w.result.violations.push(`no log file in ${paths.logDir} from a detached daemon`);
  // Nothing under the state directory for group or others (lock directories are transient).
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isSymbolicLink() || e.name.endsWith('.lock')) continue;
      const m = modeOf(p);
      if (m & 0o077) w.result.violations.push(`${path.relative(paths.dataDir, p) || p} has mode ${m.toString(8)}: open to group or others`);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(paths.dataDir);
  if (running)
    w.result.notes.push(
      `modes checked under umask ${USER_UMASK.toString(8)}: ${want.filter(([, p]) => fs.existsSync(p)).length} paths plus ${logs.length} log files`,
    );
}

// ---------------------------------------------------------------------------------------
// A second local user

/** Run as `user`: connect to the socket and read two files; prints one JSON line. */
const PROBE = `
const net = require('node:net'); const fs = require('node:fs');
const [sock, db, tokens] = process.argv.slice(1);
const out = {};
for (const [k, f] of [['db', db], ['tokens', tokens]]) { try { fs.readFileSync(f); out[k] = 'READ'; } catch (e) { out[k] = e.code; } }
const s = net.connect(sock);
const done = (v) => { out.socket = v; console.log(JSON.stringify(out)); process.exit(0); };
s.on('connect', () => { s.write(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'daemon.status', params: {} }) + '\\n'); s.on('data', (d) => done('ANSWERED ' + String(d).slice(0, 80))); setTimeout(() => done('CONNECTED'), 2000); });
s.on('error', (e) => done(e.code));
setTimeout(() => done('TIMEOUT'), 5000);
`;

interface OtherUser {
  name: string;
  uid: number;
  gid: number;
}

/** A second local user for the whole scenario (useradd: root only), or why there is none. */
function createOtherUser(): OtherUser | { skipped: string } {
  if (process.getuid?.() !== 0) return { skipped: `creating one needs root (running as uid ${process.getuid?.()})` };
  const name = `gtt${randomBytes(4).toString('hex')}`;
  const made = spawnSync('useradd', ['--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', '--no-user-group', name], {
    encoding: 'utf8',
  });
  if (made.error || made.status !== 0) return { skipped: `useradd failed (${made.error?.message ?? made.stderr.trim()})` };
  const id = (flag: string) => Number.parseInt(spawnSync('id', [flag, name], { encoding: 'utf8' }).stdout, 10);
  const user = { name, uid: id('-u'), gid: id('-g') };
  if (!Number.isInteger(user.uid) || !Number.isInteger(user.gid) || user.uid === 0) {
    removeOtherUser(user);
    return { skipped: `useradd made ${name}, but id could not tell its uid/gid` };
  }
  return user;
}

function removeOtherUser(user: OtherUser, result?: ScenarioResult): void {
  const gone = spawnSync('userdel', [user.name], { encoding: 'utf8' });
  if (gone.status !== 0) result?.notes.push(`userdel ${user.name} failed: ${gone.stderr.trim()}`);
}

async function secondUser(w: World): Promise<void> {
  if (!('uid' in w.other)) {
    w.result.skipped.push(`second local user: ${w.other.skipped}; not checked that another user cannot connect`);
    return;
  }
  const user = w.other.name;
  const dir = w.paths.runtimeDir;
  const dirMode = fs.statSync(dir).mode & 0o777;
  try {
    const probe = (): Record<string, string> | string => {
      const r = spawnSync('runuser', ['-u', user, '--', process.execPath, '-e', PROBE, w.paths.socketPath, w.paths.dbFile, w.paths.tokensFile], {
        cwd: '/',
        encoding: 'utf8',
        timeout: 15_000,
      });
      if (r.error) return `runuser failed: ${r.error.message}`;
      try {
        return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as Record<string, string>;
      } catch {
        return `no answer from the probe (exit ${r.status}): ${r.stdout} ${r.stderr}`.trim();
      }
    };
    const judge = (what: string, got: Record<string, string> | string) => {
      if (typeof got === 'string') {
        w.result.skipped.push(`second local user (${what}): ${got}`);
        return;
      }
      if (got.socket !== 'EACCES') w.result.violations.push(`another local user, ${what}, connecting to the socket got ${got.socket} (wanted EACCES)`);
      if (got.db === 'READ') w.result.violations.push(`another local user, ${what}, can read the database`);
      if (got.tokens === 'READ') w.result.violations.push(`another local user, ${what}, can read the token cache`);
      w.result.notes.push(`another local user, ${what}: socket ${got.socket}, database ${got.db}, token cache ${got.tokens}`);
    };
    judge('with the state directory as the daemon keeps it', probe());
    // Defence in depth: with the directory opened up, the socket's own 0600 must hold.
    fs.chmodSync(dir, 0o755);
    try {
      judge('with the state directory opened to 755', probe());
    } finally {
      fs.chmodSync(dir, dirMode);
    }
  } finally {
    fs.chmodSync(dir, dirMode);
  }
}

// ---------------------------------------------------------------------------------------
// http:// action URLs

async function httpRefused(w: World): Promise<void> {
  const urls = [
    'http://example.org/run',
    'HTTP://EXAMPLE.ORG/run',
    'http://10.0.0.1/run',
    'http://169.254.169.254/latest/meta-data',
    'http://0.0.0.0/run',
    'http://127.0.0.1.example.org/run',
    'http://localhost.example.org/run',
    'http://[2001:db8::1]/run',
  ];
  const client = await rpc(w);
  try {
    const jobsBefore = (await allJobs(client)).length;
    for (const url of urls) {
      const r = await cli(w, ['job', 'submit', '--name', 'insecure', '--interval', '1h', '--action-url', url, '--action-body', '{"body": {}}', '--no-scope']);
      if (r.code !== 2 || r.stdout !== '' || !/^globus-timer: [^\n]*action URL[^\n]*\n$/.test(r.stderr)) {
        w.result.violations.push(
          `job submit --action-url ${url}: exit ${r.code}, stdout ${JSON.stringify(r.stdout.slice(0, 100))}, stderr ${JSON.stringify(r.stderr.slice(0, 200))} (wanted exit 2 naming the action URL)`,
        );
      }
      try {
        const job = await client.call('job.submit', {
          name: 'insecure',
          interval_seconds: 3600,
          start: '2099-01-01T00:00:00Z',
          callback_url: url,
          callback_body: { body: {} },
          scope: null,
        });
        w.result.violations.push(`RPC job.submit with callback_url ${url} was accepted (job ${job.job_id})`);
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        w.outputs.push((err as Error).message);
        if (code !== 'INVALID_INPUT')
          w.result.violations.push(`RPC job.submit with callback_url ${url} failed with ${String(code)}, not INVALID_INPUT: ${(err as Error).message}`);
      }
    }
    const envBad = { ...w.env, GLOBUS_TIMER_TRANSFER_ACTION_URL: 'http://example.org/transfer/run' };
    const old = process.umask(USER_UMASK);
    let pending: Promise<CliResult>;
    try {
      pending = runCliProcess(
        ['job', 'transfer', '--name', 'insecure', '--interval', '1h', '--source-endpoint', SRC, '--dest-endpoint', DST, '--item', '/a', '/b', 'no'],
        envBad,
      );
    } finally {
      process.umask(old);
    }
    const tr = await pending;
    w.outputs.push(tr.stdout + tr.stderr);
    if (tr.code !== 2 || tr.stdout !== '')
      w.result.violations.push(
        `job transfer with GLOBUS_TIMER_TRANSFER_ACTION_URL=http://example.org/transfer/run: exit ${tr.code} (wanted 2), ${tr.stderr.trim()}`,
      );
    const created = (await allJobs(client)).filter((j) => j.name === 'insecure');
    if (created.length)
      w.result.violations.push(
        `${created.length} job(s) were created while http:// action URLs were refused: ${created.map((j) => j.callback_url).join(', ')}`,
      );
    else if ((await allJobs(client)).length !== jobsBefore) w.result.violations.push('the number of jobs changed while http:// action URLs were refused');
  } finally {
    client.close();
  }
  w.result.notes.push(`http:// action URLs refused: ${urls.length} by the CLI and by RPC, plus GLOBUS_TIMER_TRANSFER_ACTION_URL`);
}

// ---------------------------------------------------------------------------------------
// A hostile provider (issue 11): it names a Globus service's scope to get the user's token

/** A note for a case that added no violation since `since` (a count of violations); a failed case speaks through its violations. */
function noteIfHeld(w: World, since: number, note: string): void {
  if (w.result.violations.length === since) w.result.notes.push(note);
}

/** One line on stderr, nothing on stdout. */
function oneLine(r: CliResult): string | null {
  const lines = r.stderr.split('\n').filter((l) => l.trim());
  return r.stdout === '' && lines.length === 1 && lines[0]!.startsWith('globus-timer: ') ? lines[0]! : null;
}

async function hostileSubmissions(w: World): Promise<void> {
  const { hostile } = w;
  const host = new URL(hostile.baseUrl).host;
  const introspections = () => hostile.requests.filter((r) => r.method === 'GET').length;
  const since = w.result.violations.length;
  const client = await rpc(w);
  try {
    const jobsBefore = (await allJobs(client)).length;
    for (const scope of HOSTILE_SCOPES) {
      hostile.introspectionScope = scope;
      for (const named of [false, true]) {
        const asked = introspections();
        const args = [
          'job',
          'submit',
          '--name',
          'hostile-cli',
          '--interval',
          '1',
          '--action-url',
          hostile.runUrl,
          '--action-body',
          '{"body": {"hostile": true}}',
        ];
        const r = await cli(w, named ? [...args, '--scope', scope] : args);
        const how = `job submit to a provider at ${host} introspecting ${scope}${named ? ', with --scope naming it' : ', no --scope'}`;
        const line = oneLine(r);
        if (r.code !== 2 || !line || !line.includes(host)) {
          w.result.violations.push(
            `${how}: exit ${r.code}, stdout ${JSON.stringify(r.stdout.slice(0, 200))}, stderr ${JSON.stringify(r.stderr.slice(0, 300))} (wanted exit 2, one line naming ${host})`,
          );
        }
        if (line && scope === TRANSFER_SCOPE && !named) w.log(`hostile provider, job submit: ${line}`);
        if (!named && introspections() === asked)
          w.result.violations.push(`${how}: the CLI never read the provider's introspection document, so the case checked nothing`);
      }
      // A client that skips the CLI: the daemon's own check.
      try {
        const job = await client.call('job.submit', {
          name: 'hostile-rpc',
          interval_seconds: 1,
          callback_url: hostile.runUrl,
          callback_body: { body: {} },
          scope,
        });
        w.result.violations.push(`RPC job.submit with scope ${scope} at ${hostile.runUrl} was accepted (job ${job.job_id})`);
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        w.outputs.push((err as Error).message);
        if (code !== 'INVALID_INPUT')
          w.result.violations.push(
            `RPC job.submit with scope ${scope} at ${hostile.runUrl} failed with ${String(code)}, not INVALID_INPUT: ${(err as Error).message}`,
          );
      }
    }
    const jobs = await allJobs(client);
    const created = jobs.filter((j) => j.name === 'hostile-cli' || j.name === 'hostile-rpc');
    if (created.length)
      w.result.violations.push(`${created.length} job(s) were created for the hostile provider: ${created.map((j) => `${j.job_id} (${j.scope})`).join(', ')}`);
    else if (jobs.length !== jobsBefore)
      w.result.violations.push(`the number of jobs changed (${jobsBefore} → ${jobs.length}) while the hostile provider's jobs were refused`);
  } finally {
    client.close();
  }
  noteIfHeld(
    w,
    since,
    `hostile provider at ${host}: ${HOSTILE_SCOPES.length} Globus scopes refused by job submit (introspected and named) and by RPC job.submit`,
  );
}

/** The jobs planted before the daemon started: each run fails without sending, the job goes inactive. */
async function hostileJobsInactive(w: World, ids: readonly string[]): Promise<void> {
  const since = w.result.violations.length;
  const client = await rpc(w);
  try {
    const get = () => Promise.all(ids.map((id) => client.call('job.get', { job_id: id })));
    let docs: JobDocument[];
    try {
      docs = await waitFor(
        'every job planted at the hostile provider inactive',
        async () => {
          const d = await get();
          return d.every((j) => j.status === 'inactive') && d;
        },
        30_000,
        250,
      );
    } catch {
      docs = await get();
      const active = docs.filter((d) => d.status !== 'inactive');
      w.result.violations.push(
        `jobs planted with a Globus scope at the hostile provider still not inactive after 30 s: ${active.map((d) => `${d.job_id} (${d.scope}) ${d.status}, n_runs ${d.n_runs}`).join('; ')}`,
      );
    }
    w.outputs.push(JSON.stringify(docs));
    for (const d of docs) {
      if (d.status !== 'inactive') continue;
      if (d.inactive_reason?.cause !== 'token_destination') {
        w.result.violations.push(
          `job ${d.job_id} planted with scope ${d.scope} at the hostile provider is inactive for ${JSON.stringify(d.inactive_reason)}, not cause token_destination`,
        );
      }
      const codes = (d.results?.data ?? []).map((r) => (r.errors as { code?: unknown } | null)?.code);
      if (!codes.includes('TOKEN_DESTINATION_REFUSED')) {
        w.result.violations.push(
          `job ${d.job_id} planted with scope ${d.scope} at the hostile provider: no run failed with TOKEN_DESTINATION_REFUSED (run errors: ${JSON.stringify(codes)})`,
        );
      }
    }
    noteIfHeld(
      w,
      since,
      `${ids.length} jobs planted in the database with Globus scopes at the hostile provider: ${docs.map((d) => `${d.status}/${d.inactive_reason?.cause ?? '-'} after ${d.n_runs} run(s)`).join(', ')}`,
    );
  } finally {
    client.close();
  }
}

/** At the end: nothing the hostile provider ever received carries a token. */
function hostileGotNoToken(w: World): void {
  const { hostile } = w;
  const secrets = [...w.auth.issuedSecrets(), ...w.codes].filter(Boolean);
  const what = (r: (typeof hostile.requests)[number]) => `${r.method} ${r.path}`;
  const withHeader = hostile.requests.filter((r) => r.headers.authorization !== undefined);
  const withSecret = hostile.requests.filter((r) => {
    const text = `${r.path}\n${JSON.stringify(r.headers)}\n${JSON.stringify(r.body ?? null)}`;
    return secrets.some((s) => text.includes(s));
  });
  const first = (rs: typeof withHeader) => rs.slice(0, 3).map(what).join(', ') + (rs.length > 3 ? ', …' : '');
  if (withHeader.length) {
    const bearers = withHeader.filter((r) => bearer(r.headers)).length;
    w.result.violations.push(
      `${withHeader.length} of ${hostile.requests.length} requests to the hostile provider carried an Authorization header (${bearers} a bearer token): ${first(withHeader)}`,
    );
  }
  if (withSecret.length)
    w.result.violations.push(`${withSecret.length} requests to the hostile provider carried a secret issued by Globus Auth: ${first(withSecret)}`);
  const gets = hostile.requests.filter((r) => r.method === 'GET').length;
  if (gets === 0) w.result.violations.push('the hostile provider was never asked anything: its no-token check checked nothing');
  if (!withHeader.length && !withSecret.length) {
    w.result.notes.push(
      `hostile provider: ${hostile.requests.length} requests (${gets} introspections, ${hostile.runRequests().length} run requests), none with a token`,
    );
  }
}

// ---------------------------------------------------------------------------------------
// Planted runtime directory, socket outside the shared temp dir, planted log symlink

/** A CLI environment of the same user without GLOBUS_TIMER_HOME, all of it under `dir` (ours, 0700). */
function xdgEnv(w: World, dir: string, extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  fs.mkdirSync(dir, { mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  const env: NodeJS.ProcessEnv = {
    ...w.env,
    HOME: dir,
    XDG_DATA_HOME: path.join(dir, 'data'),
    XDG_STATE_HOME: path.join(dir, 'state'),
    XDG_CONFIG_HOME: path.join(dir, 'config'),
    XDG_CACHE_HOME: path.join(dir, 'cache'),
    ...extra,
  };
  for (const k of ['GLOBUS_TIMER_HOME', 'GLOBUS_TIMER_NO_AUTOSTART', 'XDG_RUNTIME_DIR']) if (!(k in extra)) delete env[k];
  return env;
}

const XDG_KEYS = ['HOME', 'XDG_DATA_HOME', 'XDG_STATE_HOME', 'XDG_CONFIG_HOME', 'XDG_CACHE_HOME', 'XDG_RUNTIME_DIR', 'GLOBUS_TIMER_HOME'] as const;

/**
 * resolvePaths as a CLI or daemon started with `env` resolves them: env-paths and
 * os.homedir() read this process's environment, so it is swapped in for the (synchronous) call.
 */
function resolvePathsAs(env: NodeJS.ProcessEnv): AppPaths {
  const saved = Object.fromEntries(XDG_KEYS.map((k) => [k, process.env[k]]));
  const set = (k: string, v: string | undefined) => (v === undefined ? delete process.env[k] : (process.env[k] = v));
  try {
    for (const k of XDG_KEYS) set(k, env[k]);
    return resolvePaths(env);
  } finally {
    for (const k of XDG_KEYS) set(k, saved[k]);
  }
}

interface DaemonAttempt {
  code: number | string | null;
  /** stderr lines that are not pino JSON. */
  human: string[];
  served: boolean;
}

/** `globus-timer daemon run` in the foreground, once: until it exits, or is stopped once it serves (or after 20 s). */
async function daemonRunOnce(env: NodeJS.ProcessEnv, socketPath: string, socketIno: number): Promise<DaemonAttempt> {
  const old = process.umask(USER_UMASK);
  let proc: ReturnType<typeof spawn>;
  try {
    proc = spawn(process.execPath, [path.join(ROOT, 'bin/globus-timer.js'), 'daemon', 'run'], {
      env: { ...env, GLOBUS_TIMER_LOG_LEVEL: 'info' },
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } finally {
    process.umask(old);
  }
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<number | string | null>((resolve) => proc.on('close', (code, signal) => resolve(code ?? signal)));
  const replaced = () => {
    try {
      return fs.lstatSync(socketPath).ino !== socketIno;
    } catch {
      return true;
    }
  };
  let served = false;
  for (let waited = 0; proc.exitCode === null && proc.signalCode === null && waited < 20_000; waited += 50) {
    served = stderr.includes('"daemon listening"') || replaced();
    if (served) break;
    await sleep(50);
  }
  if (proc.exitCode === null && proc.signalCode === null) proc.kill(served ? 'SIGTERM' : 'SIGKILL');
  const killer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  const code = await exited;
  clearTimeout(killer);
  return { code, human: stderr.split('\n').filter((l) => l.trim() && !l.startsWith('{')), served };
}

/**
 * Connect to `socketPath`, whose server accepts and at once closes every connection, and
 * resolve once the server has closed ours. A listening socket hands out its queued
 * connections in the order they came, so every connection made before ours (by a process
 * that may have exited since) has been accepted by then: counting them afterwards needs
 * no guess at how long the kernel's queue takes to drain.
 */
function acceptedBehindQueued(socketPath: string, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`${socketPath}: our own connection was not accepted within ${timeoutMs} ms`));
    }, timeoutMs);
    let connected = false;
    s.once('connect', () => (connected = true));
    // Once connected, the connection ends only when the server closes it (an EOF, or a reset).
    s.on('error', (err) => {
      if (connected) return;
      clearTimeout(timer);
      reject(err);
    });
    s.once('close', () => {
      clearTimeout(timer);
      if (connected) resolve();
    });
    s.resume();
  });
}

async function plantedRuntimeDir(w: World): Promise<void> {
  const runtime = path.join(w.home, 'run'); // XDG_RUNTIME_DIR: ours, 0700
  fs.mkdirSync(runtime, { mode: 0o700 });
  fs.chmodSync(runtime, 0o700);
  const planted = path.join(runtime, 'globus-timer');
  fs.mkdirSync(planted, { mode: 0o700 });
  const socketPath = path.join(planted, 'daemon.sock');
  // The other user's "daemon": it takes every connection (and would read every job submitted).
  let connections = 0;
  const server = net.createServer((s) => {
    connections += 1;
    s.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  const env = xdgEnv(w, path.join(w.home, 'rtuser'), { XDG_RUNTIME_DIR: runtime });
  const since = w.result.violations.length;
  try {
    let who: string;
    if ('uid' in w.other) {
      fs.chmodSync(socketPath, 0o600);
      fs.chownSync(socketPath, w.other.uid, w.other.gid);
      fs.chmodSync(planted, 0o700);
      fs.chownSync(planted, w.other.uid, w.other.gid);
      who = `made and owned by ${w.other.name} (uid ${w.other.uid})`;
    } else {
      fs.chmodSync(planted, 0o777);
      who = 'world-writable 0777 (not root: no second user to own it)';
      w.result.skipped.push(`planted runtime directory owned by another user: no second user (${w.other.skipped}); checked a world-writable one instead`);
    }
    const dirBefore = fs.lstatSync(planted);
    const sockBefore = fs.lstatSync(socketPath);
    const paths = resolvePathsAs(env);
    if (paths.socketPath !== socketPath) {
      w.result.violations.push(
        `with XDG_RUNTIME_DIR=${runtime} the socket resolves to ${paths.socketPath}, not ${socketPath}: the planted runtime directory case checked nothing`,
      );
      return;
    }

    for (const args of [
      ['job', 'list'],
      ['daemon', 'status'],
    ]) {
      const r = await cli(w, args, undefined, env);
      const line = oneLine(r);
      if (line) w.log(`planted runtime directory, ${args.join(' ')}: ${line}`);
      if (r.code !== 1 || !line || !line.includes(planted)) {
        w.result.violations.push(
          `${args.join(' ')} with a socket directory ${who}: exit ${r.code}, stdout ${JSON.stringify(r.stdout.slice(0, 200))}, stderr ${JSON.stringify(r.stderr.slice(0, 300))} (wanted exit 1, one line naming ${planted})`,
        );
      }
    }
    // What the CLI runs into, with its code: refused before anything is sent.
    try {
      const client = await RpcClient.connect(socketPath, { timeoutMs: 5_000 });
      client.close();
      w.result.violations.push(`RpcClient.connect to the planted socket ${socketPath} succeeded`);
    } catch (err) {
      if (!(err instanceof TimerError && err.code === ERROR_CODES.UNSAFE_PATH)) {
        w.result.violations.push(
          `RpcClient.connect to the planted socket failed with ${(err as { code?: unknown }).code}, not UNSAFE_PATH: ${(err as Error).message}`,
        );
      }
    }
    // Autostart was allowed (GLOBUS_TIMER_NO_AUTOSTART unset): a refused socket must not start one.
    for (const [what, dir] of [
      ['data directory', paths.dataDir],
      ['log directory', paths.logDir],
    ] as const) {
      if (fs.existsSync(dir))
        w.result.violations.push(`after the CLI refused the planted socket directory, the ${what} ${dir} exists: a daemon was autostarted`);
    }

    const attempt = await daemonRunOnce(env, socketPath, sockBefore.ino);
    w.log(`planted runtime directory, daemon run (${attempt.served ? 'served' : `exit ${attempt.code}`}): ${attempt.human.join(' | ')}`);
    if (attempt.served || attempt.code === 0 || attempt.human.length !== 1 || !attempt.human[0]!.includes(planted)) {
      w.result.violations.push(
        `daemon run with a socket directory ${who}: ${attempt.served ? 'it served' : `exit ${attempt.code}`}, said ${JSON.stringify(attempt.human.join(' | ').slice(0, 400))} (wanted a refusal in one line naming ${planted})`,
      );
    }

    const dirAfter = fs.lstatSync(planted);
    if (dirAfter.uid !== dirBefore.uid || dirAfter.gid !== dirBefore.gid || dirAfter.mode !== dirBefore.mode || !dirAfter.isDirectory()) {
      w.result.violations.push(
        `the planted socket directory changed: owner ${dirBefore.uid}:${dirBefore.gid} → ${dirAfter.uid}:${dirAfter.gid}, mode ${(dirBefore.mode & 0o7777).toString(8)} → ${(dirAfter.mode & 0o7777).toString(8)}`,
      );
    }
    let sockAfter: fs.Stats | null = null;
    try {
      sockAfter = fs.lstatSync(socketPath);
    } catch {
      // checked below
    }
    if (!sockAfter || sockAfter.ino !== sockBefore.ino || sockAfter.uid !== sockBefore.uid || sockAfter.mode !== sockBefore.mode) {
      w.result.violations.push(`the planted socket ${socketPath} was ${sockAfter ? 'replaced or changed' : 'removed'}`);
    }
    const entries = fs.readdirSync(planted);
    if (entries.join() !== 'daemon.sock') w.result.violations.push(`files appeared in the planted socket directory: ${entries.join(', ')}`);
    // A connection of our own, accepted after any the CLI or the daemon made: those were counted by then.
    await acceptedBehindQueued(socketPath);
    const strays = connections - 1;
    if (strays) w.result.violations.push(`the planted socket (${who}) received ${strays} connection(s)`);
    noteIfHeld(
      w,
      since,
      `planted runtime directory (${who}): job list and daemon status refused it in one line, daemon run did not start, no connection to its socket`,
    );
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Without XDG_RUNTIME_DIR and GLOBUS_TIMER_HOME: the socket is in the user's own data directory. */
async function socketWithoutRuntimeDir(w: World): Promise<void> {
  const dir = path.join(w.home, 'nort');
  const env = xdgEnv(w, dir, {});
  const tmp = fs.realpathSync(os.tmpdir());
  const since = w.result.violations.length;
  const check = (what: string, socketPath: unknown, dataDir: string, runtimeDir?: string) => {
    const problems: string[] = [];
    const want = path.join(dataDir, 'daemon.sock');
    if (socketPath !== want) problems.push(`socket ${JSON.stringify(socketPath)}, not ${want} in the data directory`);
    if (runtimeDir !== undefined && runtimeDir !== dataDir) problems.push(`socket directory ${runtimeDir}, not the data directory ${dataDir}`);
    if (typeof socketPath === 'string') {
      const rel = path.relative(dir, socketPath);
      const parent = path.dirname(socketPath);
      if (rel.startsWith('..') || path.isAbsolute(rel) || parent === tmp || parent === os.tmpdir())
        problems.push(`socket ${socketPath} is outside the user's own directories (temp dir ${tmp})`);
    }
    if (problems.length) w.result.violations.push(`no XDG_RUNTIME_DIR, no GLOBUS_TIMER_HOME, ${what}: ${problems.join('; ')}`);
  };
  const dataDir = path.join(env.XDG_DATA_HOME!, 'globus-timer');
  const resolved = resolvePathsAs(env);
  check(`resolvePaths with XDG_DATA_HOME=${env.XDG_DATA_HOME}`, resolved.socketPath, dataDir, resolved.runtimeDir);
  // The CLI's own answer, in a process started with that environment (env-paths reads HOME
  // when it is loaded, so only a new process shows the HOME-only case). Nothing runs there:
  // exit 3 with the socket path.
  const homeOnly = { ...env };
  delete homeOnly.XDG_DATA_HOME;
  for (const [what, e, want] of [
    [`daemon status with XDG_DATA_HOME=${env.XDG_DATA_HOME}`, env, dataDir],
    [`daemon status with HOME=${dir} only`, homeOnly, path.join(dir, '.local', 'share', 'globus-timer')],
  ] as const) {
    const r = await cli(w, ['daemon', 'status', '--format', 'json'], undefined, e);
    let reported: unknown;
    try {
      reported = (JSON.parse(r.stdout) as { socket_path?: unknown }).socket_path;
    } catch {
      reported = undefined;
    }
    if (r.code !== 3)
      w.result.violations.push(`no XDG_RUNTIME_DIR, no GLOBUS_TIMER_HOME, ${what}: exit ${r.code}, not 3 (not running); ${r.stderr.trim().slice(0, 200)}`);
    check(what, reported, want);
  }
  noteIfHeld(
    w,
    since,
    `without XDG_RUNTIME_DIR and GLOBUS_TIMER_HOME the socket is ${path.relative(w.home, resolved.socketPath)} under the scenario's user directory (temp dir ${tmp}); the CLI agrees, HOME-only too`,
  );
}

async function plantedLogSymlink(w: World): Promise<void> {
  const state = path.join(w.home, 'logstate');
  const logs = path.join(state, 'logs');
  fs.mkdirSync(logs, { recursive: true, mode: 0o700 });
  fs.chmodSync(state, 0o700);
  fs.chmodSync(logs, 0o700);
  const victim = path.join(w.home, 'victim.txt');
  const content = Buffer.from(`precious ${randomBytes(16).toString('hex')}\n`);
  fs.writeFileSync(victim, content, { mode: 0o644 });
  fs.chmodSync(victim, 0o644);
  let whose = 'ours: no second user';
  if ('uid' in w.other) {
    fs.chownSync(victim, w.other.uid, w.other.gid);
    whose = `${w.other.name}'s`;
  }
  const past = new Date('2001-02-03T04:05:06Z');
  fs.utimesSync(victim, past, past);
  const link = path.join(logs, 'daemon.1.log');
  fs.symlinkSync(victim, link);
  const env = { ...w.env, GLOBUS_TIMER_HOME: state };
  const paths = resolvePaths(env);
  const before = fs.lstatSync(victim);
  const since = w.result.violations.length;
  try {
    const r = await cli(w, ['daemon', 'start'], undefined, env);
    const line = oneLine(r);
    w.log(`planted log link, daemon start (exit ${r.code}): ${r.stderr.trim()}`);
    if (r.code === 0 || !line || !line.includes(link)) {
      w.result.violations.push(
        `daemon start with ${link} → a victim file: exit ${r.code}, stdout ${JSON.stringify(r.stdout.slice(0, 200))}, stderr ${JSON.stringify(r.stderr.slice(0, 400))} (wanted a refusal in one line naming ${link})`,
      );
    }
    if (await isAnswering(paths.socketPath))
      w.result.violations.push(`a daemon answers on ${paths.socketPath} although the log directory holds a planted link`);
    const after = fs.lstatSync(victim);
    const now = fs.readFileSync(victim);
    if (!now.equals(content))
      w.result.violations.push(`the victim file behind the planted log link was written: ${content.length} bytes → ${now.length} bytes`);
    if (after.mtimeMs !== before.mtimeMs)
      w.result.violations.push(`the victim file behind the planted log link has a new mtime (${before.mtime.toISOString()} → ${after.mtime.toISOString()})`);
    if (after.uid !== before.uid || after.mode !== before.mode) w.result.violations.push(`the victim file behind the planted log link changed owner or mode`);
    if (!fs.lstatSync(link).isSymbolicLink() || fs.readlinkSync(link) !== victim) w.result.notes.push(`the planted log link ${link} was replaced or changed`);
    noteIfHeld(w, since, `planted log link to a victim file (${whose}): daemon start refused (exit ${r.code}), victim unchanged`);
  } finally {
    await killDetached(paths);
  }
}
