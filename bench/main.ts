/**
 * `npm run bench`: the globus-timer benchmarks of issue #6. Every scenario prints one JSON
 * line per row on stdout as it finishes; at the end come the Markdown tables. Progress goes
 * to stderr. `--write` (or `--out FILE`) also writes BENCHMARKS.md with the machine, the
 * versions and the command line. See `--help` and BENCHMARKS.md for the method.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { mixText, parseApiMix } from './lib/api-load-client.ts';
import { runFiring, type FiringParams, type FiringRow, type SystemUnderTest } from './lib/firing-run.ts';
import { ensureBundle, entryWords } from './lib/entry.ts';
import { describeMachine, srcHash, type Machine } from './lib/machine.ts';
import { oursSystem } from './lib/ours.ts';
import { bullmqSystem, REDIS_MISSING, redisServerVersion } from './lib/peer.ts';
import { cleanupAll, installCleanupHandlers, ROOT } from './lib/procs.ts';
import { newestProfile, summarizeProfile } from './lib/profile.ts';
import { addendum, apiRatio, benchmarksFile, markdown, peerRatios, type ApiGroup, type PeerGroup, type Results, type SearchResult } from './lib/report.ts';
import { medianOf, round } from './lib/stats.ts';
import { runCliScenario } from './scenarios/cli.ts';
import { runScale } from './scenarios/scale.ts';
import { runStorage } from './scenarios/storage.ts';
import { runIdle } from './scenarios/idle.ts';
import { DEFAULT_CONFIG } from '../src/config/config.ts';

const SCENARIOS = ['precision', 'throughput', 'api', 'watch', 'search', 'scale', 'idle', 'storage', 'cli', 'peer'] as const;
type Scenario = (typeof SCENARIOS)[number];

const HELP = `Usage: npm run bench -- [options]

Scenarios (default: all, in this order): ${SCENARIOS.join(', ')}
  precision   N jobs at R fires/s for D s (and again with --large-n jobs): lateness, counts, CPU, RSS
  throughput  the same at each of --rates
  api         the precision run (--n, --rate) without and with --api-rate REST API requests/s on the daemon:
              how much the p99 lateness moves (issue 14: at most 10 %), and the API's latency
  search      highest R at which p99 lateness stays under 100 ms with nothing missed
  scale       --scale-n jobs in the database: ready time, idle RSS, job.get/list latency, submit rate
  idle        10 hourly jobs, nothing due: the daemon's CPU over --idle-s seconds, and its RSS
  storage     bytes per run whole and compacted, the store after --storage-runs runs, the WAL at rest after a burst
  watch       the precision row without and with 5 RPC watchers (job watch --all) and a dashboard event stream
  cli         wall time of 'globus-timer job status ID' and 'job list' next to 'node -e 0'
  peer        BullMQ job schedulers on redis-server (defaults, and hz 100) at each of --peer-rates

Options:
  --quick               small N and short D for every scenario (under 3 minutes)
  --scenario NAME       run only these (repeat, or comma-separate)
  --n N                 jobs for precision/throughput/api/peer (default 10000; quick 2000)
  --large-n N           the second precision row (default 100000; quick 20000)
  --rate R              fires/s of the precision and api rows (default 200)
  --duration D          seconds of each firing run (default 60; quick 8)
  --warmup W            seconds at the start left out of the lateness figures (default 5; quick 1)
  --drain S             seconds after the window that late fires may still arrive (default 10; quick 3)
  --runs K              repeat every firing run and the scale scenario K times; report medians (default 1;
                        the api scenario alternates its runs without and with the load)
  --rates LIST          throughput rates (default 1000,3000)
  --peer-rates LIST     peer rates (default 200,1000; with --rate: that rate)
  --concurrency C       BullMQ worker concurrency (default 100)
  --api-rate R          REST API requests/s of the api scenario, open loop (default 200)
  --api-mix MIX         kinds of those requests and their weights (default get:89,create:10,list:1;
                        get = GET /jobs/{id}, create = POST /jobs/, list = GET /jobs/)
  --api-connections C   keep-alive sockets of the API load generator (default 16)
  --search-duration D   seconds per search step (default 20; quick 5)
  --search-start R      first rate tried by the search (default 1000; quick 4000)
  --search-max R        highest rate tried (default 32000; quick 8000)
  --search-steps K      bisection steps after the first failure (default 3; quick 0)
  --search-max-runs K   firing runs the search may use in all (default 10; quick 3)
  --scale-n N           jobs for the scale scenario (default 1000000; quick 100000)
  --idle-s S            the idle scenario's window (default 300; quick 30)
  --storage-jobs N      jobs of the storage scenario's store (default 10000; quick 1000)
  --storage-runs N      runs written to it, compacted as the daemon does (default 1000000; quick 50000)
  --cli-runs K          timed runs per CLI command (default 10; quick 5)
  --profile             write a V8 CPU profile of the daemon in the precision runs, print where time went
  --probe               measure the daemon's event-loop delay and utilisation over the window (precision, api)
  --write               write BENCHMARKS.md (or --out FILE)
  --out FILE            where --write writes (default BENCHMARKS.md)
  --append              add this run's tables to the end of that file instead of replacing it
  -h, --help            this text`;

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    scenario: { type: 'string', multiple: true },
    n: { type: 'string' },
    'large-n': { type: 'string' },
    rate: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    drain: { type: 'string' },
    runs: { type: 'string' },
    rates: { type: 'string' },
    'peer-rates': { type: 'string' },
    concurrency: { type: 'string' },
    'api-rate': { type: 'string' },
    'api-mix': { type: 'string' },
    'api-connections': { type: 'string' },
    'search-duration': { type: 'string' },
    'search-start': { type: 'string' },
    'search-max': { type: 'string' },
    'search-steps': { type: 'string' },
    'search-max-runs': { type: 'string' },
    'scale-n': { type: 'string' },
    'idle-s': { type: 'string' },
    'storage-jobs': { type: 'string' },
    'storage-runs': { type: 'string' },
    'cli-runs': { type: 'string' },
    profile: { type: 'boolean', default: false },
    probe: { type: 'boolean', default: false },
    write: { type: 'boolean', default: false },
    out: { type: 'string' },
    append: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
  allowPositionals: false,
});

if (args.help) {
  process.stdout.write(HELP + '\n');
  process.exit(0);
}

const quick = args.quick;
function num(name: keyof typeof args, full: number, fast: number): number {
  const raw = args[name];
  if (raw === undefined) return quick ? fast : full;
  const v = Number(raw);
  if (typeof raw !== 'string' || !Number.isFinite(v) || v < 0) usage(`--${name} must be a non-negative number`);
  return v;
}
function list(name: keyof typeof args, fallback: number[]): number[] {
  const raw = args[name];
  if (raw === undefined) return fallback;
  const xs = String(raw).split(',').map(Number);
  if (xs.some((x) => !Number.isFinite(x) || x <= 0)) usage(`--${name} must be a comma-separated list of positive numbers`);
  return xs;
}
function usage(message: string): never {
  process.stderr.write(`bench: ${message}\n\n${HELP}\n`);
  process.exit(2);
}

const scenarios: Scenario[] = args.scenario
  ? args.scenario
      .flatMap((s) => s.split(','))
      .map((s) => {
        if (!(SCENARIOS as readonly string[]).includes(s)) usage(`unknown scenario "${s}"`);
        return s as Scenario;
      })
  : [...SCENARIOS];

const cfg = {
  n: num('n', 10_000, 2_000),
  largeN: num('large-n', 100_000, 20_000),
  rate: num('rate', 200, 200),
  duration: num('duration', 60, 8),
  warmup: num('warmup', 5, 1),
  drain: num('drain', 10, 3),
  runs: Math.max(1, Math.round(num('runs', 1, 1))),
  rates: list('rates', [1000, 3000]),
  peerRates: list('peer-rates', args.rate !== undefined ? [Number(args.rate)] : [200, 1000]),
  concurrency: num('concurrency', 100, 100),
  searchDuration: num('search-duration', 20, 5),
  searchStart: num('search-start', 1000, 4000),
  searchMax: num('search-max', 32_000, 8_000),
  searchSteps: num('search-steps', 3, 0),
  searchMaxRuns: num('search-max-runs', 10, 3),
  scaleN: num('scale-n', 1_000_000, 100_000),
  idleS: Math.max(1, num('idle-s', 300, 30)),
  storageJobs: Math.max(1, Math.round(num('storage-jobs', 10_000, 1_000))),
  storageRuns: Math.max(1, Math.round(num('storage-runs', 1_000_000, 50_000))),
  cliRuns: Math.max(1, Math.round(num('cli-runs', 10, 5))),
  apiRate: num('api-rate', 200, 200),
  apiMix: apiMix(args['api-mix'] ?? 'get:89,create:10,list:1'),
  apiConnections: Math.max(1, Math.round(num('api-connections', 16, 16))),
};
if (cfg.apiRate <= 0) usage('--api-rate must be above 0');

function apiMix(text: string) {
  try {
    return parseApiMix(text);
  } catch (err) {
    return usage(`--api-mix: ${(err as Error).message}`);
  }
}
if (cfg.warmup >= cfg.duration) usage('--warmup must be shorter than --duration');

const commandLine = `npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`;
const progress = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const emit = (row: object) => process.stdout.write(JSON.stringify(row) + '\n');

installCleanupHandlers();

const results: Results = {
  precision: [],
  throughput: [],
  api: null,
  watch: null,
  search: null,
  scale: null,
  idle: null,
  storage: null,
  cli: [],
  peer: [],
  errors: [],
};
const oursCache = new Map<string, FiringRow>();
const profileDir = args.profile ? fs.mkdtempSync(path.join(os.tmpdir(), 'gtb-prof-')) : null;

function firingParams(n: number, rate: number, duration = cfg.duration): FiringParams {
  return { n, rate, durationS: duration, warmupS: Math.min(cfg.warmup, duration / 2), drainS: cfg.drain, marginS: quick ? 0.5 : 1 };
}

/** Run `runs` times; the row holds the median of every figure, and each run's headline figures. */
async function firing(scenario: string, make: () => SystemUnderTest, p: FiringParams, runs = cfg.runs): Promise<FiringRow> {
  const rows: FiringRow[] = [];
  for (let i = 0; i < runs; i++) {
    progress(`${scenario}: ${make().name} N=${p.n} R=${p.rate}/s D=${p.durationS}s${runs > 1 ? ` (run ${i + 1}/${runs})` : ''}`);
    rows.push(await runFiring(scenario, make(), p));
  }
  return summarize(rows);
}

/** One row for several runs of the same thing: the median of every figure, and each run's headline figures. */
function summarize(rows: FiringRow[]): FiringRow {
  const runs = rows.length;
  const row = medianOf(rows);
  row.runs = runs;
  if (runs > 1) {
    row.per_run = rows.map((r) => ({
      p50: r.lateness_ms.p50,
      p99: r.lateness_ms.p99,
      max: r.lateness_ms.max,
      missed: r.missed,
      duplicates: r.duplicates,
      early: r.early,
    }));
  }
  return row;
}

async function ours(scenario: string, n: number, rate: number, opts: { profile?: boolean; duration?: number; runs?: number } = {}): Promise<FiringRow> {
  const p = firingParams(n, rate, opts.duration);
  const probe = args.probe && scenario === 'precision';
  // A profiled or probed run is not reused for another scenario: both cost the daemon time.
  const key = JSON.stringify({ ...p, runs: opts.runs ?? cfg.runs, profile: !!opts.profile, probe });
  const cached = oursCache.get(key);
  if (cached) return cached;
  const profile = opts.profile && profileDir ? fs.mkdtempSync(path.join(profileDir, 'run-')) : null;
  const row = await firing(scenario, () => oursSystem({ cpuProfDir: profile, probe }), p, opts.runs);
  if (profile) {
    const file = newestProfile(profile);
    if (file) {
      const s = summarizeProfile(file, 12);
      row.profile = { file, total_ms: s.total_ms, places: s.places.slice(0, 8), functions: s.functions.slice(0, 12) };
      progress(`CPU profile of the daemon: ${file}`);
    }
  }
  oursCache.set(key, row);
  return row;
}

async function scenario(name: Scenario, body: () => Promise<void>): Promise<void> {
  if (!scenarios.includes(name)) return;
  // Someone may be editing src/ while this runs: then rebuild the CLI bundle (the bin runs
  // whatever dist/cli holds) and say from where on the newer code was measured.
  const sha1 = srcHash();
  const last = machine.src_changes?.at(-1)?.src_sha1 ?? machine.src_sha1;
  if (sha1 !== last) {
    const now = ensureBundle();
    (machine.src_changes ??= []).push({ before: name, src_sha1: sha1, entry: now });
    progress(`src/ changed during the run (sha1 ${sha1}); ${name} and later scenarios measure the new code (${now})`);
  }
  try {
    await body();
  } catch (err) {
    const error = (err as Error).stack ?? String(err);
    results.errors.push({ scenario: name, error });
    emit({ scenario: name, error: (err as Error).message });
    progress(`${name} failed: ${error}`);
  }
}

const passes = (r: FiringRow) => r.lateness_ms.p99 !== null && r.lateness_ms.p99 < 100 && r.missed === 0 && r.duplicates === 0 && r.early === 0;

const started = Date.now();
const entry = ensureBundle();
const machine: Machine = { ...(await describeMachine()), entry };
progress(
  `${machine.cpus} × ${machine.cpu_model}, node ${machine.node}; ${machine.idle_before_pct}% idle before the run; globus-timer runs from the ${entryWords(entry)}; scenarios: ${scenarios.join(', ')}`,
);

await scenario('precision', async () => {
  for (const n of [cfg.n, cfg.largeN]) {
    const row = await ours('precision', n, cfg.rate, { profile: args.profile });
    results.precision.push(row);
    emit(row);
  }
});

await scenario('throughput', async () => {
  for (const rate of cfg.rates) {
    const row = await ours('throughput', cfg.n, rate);
    results.throughput.push(row);
    emit(row);
  }
});

await scenario('api', async () => {
  // Issue 14: the firing path stays first. The same precision run without and with REST API
  // load; with --runs K the two alternate (without, with, without, …) so that a drift of the
  // machine falls on both alike, and each is the median of its K runs.
  const p = firingParams(cfg.n, cfg.rate);
  const load = { rate: cfg.apiRate, mix: cfg.apiMix, connections: cfg.apiConnections, answerWaitMs: cfg.drain * 1000 };
  const base: FiringRow[] = [];
  const loaded: FiringRow[] = [];
  for (let i = 0; i < cfg.runs; i++) {
    const of = cfg.runs > 1 ? ` (run ${i + 1}/${cfg.runs})` : '';
    progress(`api: globus-timer N=${p.n} R=${p.rate}/s D=${p.durationS}s, no API${of}`);
    base.push(await runFiring('api', oursSystem({ probe: args.probe }), p));
    progress(`api: globus-timer N=${p.n} R=${p.rate}/s D=${p.durationS}s, API ${load.rate} req/s ${mixText(load.mix)} over ${load.connections} sockets${of}`);
    loaded.push(await runFiring('api', oursSystem({ probe: args.probe, api: load }), p));
  }
  const group: ApiGroup = { baseline: summarize(base), loaded: summarize(loaded), perRunP99Ratio: loaded.map((r, i) => ratioOf(r, base[i]!)) };
  results.api = group;
  emit(group.baseline);
  emit(group.loaded);
  const q = apiRatio(group);
  emit({
    scenario: 'api-ratio',
    n: group.loaded.n,
    rate: group.loaded.rate,
    api_rate: load.rate,
    api_mix: mixText(load.mix),
    lateness_ms: {
      without_api: pick(group.baseline),
      with_api: pick(group.loaded),
    },
    p99_ratio: round(q.p99, 4),
    within_1_10: q.within,
    ...(cfg.runs > 1 ? { per_run_p99_ratio: group.perRunP99Ratio.map((x) => round(x, 4)) } : {}),
    api_load: group.loaded.api_load ?? null,
  });
});

await scenario('watch', async () => {
  // Issue 16: watchers cost the firing path nothing but a write. The same precision run
  // without and with five `job watch --all` connections and one dashboard event stream,
  // alternated as in the api scenario.
  const p = firingParams(cfg.n, cfg.rate);
  const watchers = { rpc: 5, sse: 1 };
  const base: FiringRow[] = [];
  const watched: FiringRow[] = [];
  for (let i = 0; i < cfg.runs; i++) {
    const of = cfg.runs > 1 ? ` (run ${i + 1}/${cfg.runs})` : '';
    progress(`watch: globus-timer N=${p.n} R=${p.rate}/s D=${p.durationS}s, no watchers${of}`);
    base.push(await runFiring('watch', oursSystem({ probe: args.probe }), p));
    progress(`watch: globus-timer N=${p.n} R=${p.rate}/s D=${p.durationS}s, ${watchers.rpc} RPC watchers and ${watchers.sse} dashboard stream${of}`);
    watched.push(await runFiring('watch', oursSystem({ probe: args.probe, watchers }), p));
  }
  const without = summarize(base);
  const withWatchers = summarize(watched);
  results.watch = { baseline: without, loaded: withWatchers, perRunP99Ratio: watched.map((r, i) => ratioOf(r, base[i]!)) };
  emit(without);
  emit(withWatchers);
  const p99 = ratioOf(withWatchers, without);
  emit({
    scenario: 'watch-ratio',
    n: without.n,
    rate: without.rate,
    watchers,
    lateness_ms: { without_watchers: pick(without), with_watchers: pick(withWatchers) },
    p99_ratio: p99 === null ? null : round(p99, 4),
    ...(cfg.runs > 1 ? { per_run_p99_ratio: watched.map((r, i) => round(ratioOf(r, base[i]!), 4)) } : {}),
    received: watched.map((r) => (r as { watchers?: unknown }).watchers ?? null),
  });
});

function ratioOf(loaded: FiringRow, base: FiringRow): number | null {
  const a = loaded.lateness_ms.p99;
  const b = base.lateness_ms.p99;
  return a !== null && b ? a / b : null;
}

function pick(r: FiringRow) {
  const l = r.lateness_ms;
  return { p50: l.p50, p90: l.p90, p99: l.p99, max: l.max, missed: r.missed, duplicates: r.duplicates, early: r.early };
}

await scenario('search', async () => {
  const search: SearchResult = { rows: [], highest: null, firstFail: null };
  results.search = search;
  const step = async (rate: number) => {
    const row = await ours('search', cfg.n, rate, { duration: cfg.searchDuration, runs: 1 });
    row.pass = passes(row);
    search.rows.push(row);
    emit(row);
    if (row.pass) search.highest = Math.max(search.highest ?? 0, rate);
    else search.firstFail = Math.min(search.firstFail ?? Infinity, rate);
    return row.pass;
  };
  // Up by doubling until a rate fails, down by halving if the first one fails, then bisect.
  const more = () => search.rows.length < cfg.searchMaxRuns;
  let rate = cfg.searchStart;
  if (await step(rate)) {
    while (more() && search.firstFail === null && rate * 2 <= cfg.searchMax) await step((rate *= 2));
  } else {
    while (more() && search.highest === null && rate / 2 >= 100) await step((rate = Math.round(rate / 2)));
  }
  for (let i = 0; more() && i < cfg.searchSteps && search.highest !== null && search.firstFail !== null; i++) {
    const mid = Math.round((search.highest + search.firstFail) / 2 / 100) * 100;
    if (mid <= search.highest || mid >= search.firstFail) break;
    await step(mid);
  }
  emit({ scenario: 'search-result', highest_rate: search.highest, lowest_failing_rate: search.firstFail, criterion: 'p99 < 100 ms, 0 missed/dup/early' });
});

await scenario('scale', async () => {
  const rows = [];
  for (let i = 0; i < cfg.runs; i++) {
    progress(`scale: ${cfg.scaleN} jobs${cfg.runs > 1 ? ` (run ${i + 1}/${cfg.runs})` : ''}`);
    rows.push(await runScale({ n: cfg.scaleN, calls: quick ? 200 : 1_000, submits: quick ? 500 : 2_000, inFlight: 16, settleS: quick ? 2 : 5 }));
  }
  const row = medianOf(rows);
  row.runs = cfg.runs;
  results.scale = row;
  emit(row);
});

await scenario('idle', async () => {
  progress(`idle: 10 hourly jobs, ${cfg.idleS} s`);
  // Settled for a minute first: for about that long after the submits V8's memory reducer runs
  // GCs on its helper threads (67 ms of the 111 ms a 60-s window 10 s after them measured).
  const row = await runIdle({ jobs: 10, windowS: cfg.idleS, settleS: quick ? 2 : 60 });
  results.idle = row;
  emit(row);
});

await scenario('storage', async () => {
  progress(`storage: ${cfg.storageRuns.toLocaleString('en-US')} runs of ${cfg.storageJobs.toLocaleString('en-US')} jobs`);
  const row = await runStorage(
    { jobs: cfg.storageJobs, runs: cfg.storageRuns, keepFull: DEFAULT_CONFIG.fullRunsPerJob, burstJobs: 200, burstS: quick ? 10 : 30 },
    progress,
  );
  results.storage = row;
  emit(row);
});

await scenario('cli', async () => {
  progress(`cli: ${cfg.cliRuns} runs of each command`);
  results.cli = await runCliScenario({ runs: cfg.cliRuns, jobs: 100 });
  for (const row of results.cli) emit(row);
});

await scenario('peer', async () => {
  const redis = redisServerVersion();
  for (const rate of cfg.peerRates) {
    const group: PeerGroup = { rate, ours: null, peers: [], skipped: null };
    results.peer.push(group);
    group.ours = await ours(rate === cfg.rate ? 'precision' : 'throughput', cfg.n, rate);
    if (!redis) {
      group.skipped = REDIS_MISSING;
      progress(`peer: ${REDIS_MISSING}`);
      emit({ scenario: 'peer', system: 'bullmq', rate, skipped: REDIS_MISSING });
      continue;
    }
    for (const hz of [null, 100]) {
      const row = await firing('peer', () => bullmqSystem({ hz, concurrency: cfg.concurrency }), firingParams(cfg.n, rate));
      group.peers.push(row);
      emit(row);
    }
    emit({
      scenario: 'peer-ratio',
      rate,
      ours: { p50: group.ours.lateness_ms.p50, p99: group.ours.lateness_ms.p99 },
      ratios: peerRatios(group).map((q) => ({ system: q.system, ours_over_peer_p50: round(q.p50, 4), ours_over_peer_p99: round(q.p99, 4) })),
    });
  }
});

const defaults = { n: cfg.n, largeN: cfg.largeN };
const md = markdown(results, defaults);
process.stdout.write('\n' + md);
progress(`done in ${Math.round((Date.now() - started) / 1000)} s`);

if (args.write || args.out || args.append) {
  const out = path.resolve(ROOT, args.out ?? 'BENCHMARKS.md');
  if (args.append && fs.existsSync(out)) {
    fs.appendFileSync(out, '\n' + addendum(results, machine, commandLine, defaults));
    progress(`appended to ${path.relative(ROOT, out)}`);
  } else {
    fs.writeFileSync(out, benchmarksFile(results, machine, commandLine, defaults, fs.readFileSync(path.join(ROOT, 'bench/METHOD.md'), 'utf8')));
    progress(`wrote ${path.relative(ROOT, out)}`);
  }
}
if (profileDir) progress(`CPU profiles kept in ${profileDir}`);
cleanupAll();
process.exitCode = results.errors.length ? 1 : 0;
