/** The Markdown tables of a bench run, and BENCHMARKS.md. */
import type { ApiLoadStats } from '../api-load.ts';
import type { CliRow } from '../scenarios/cli.ts';
import type { ScaleRow } from '../scenarios/scale.ts';
import type { StorageRow } from '../scenarios/storage.ts';
import type { IdleRow } from '../scenarios/idle.ts';
import { entryWords } from './entry.ts';
import type { FiringRow } from './firing-run.ts';
import type { Machine } from './machine.ts';

export interface PeerGroup {
  rate: number;
  ours: FiringRow | null;
  peers: FiringRow[];
  skipped: string | null;
}

export interface SearchResult {
  rows: FiringRow[];
  /** Highest rate that passed, and the lowest that failed above it. */
  highest: number | null;
  firstFail: number | null;
}

/** The `api` scenario: the same firing run without and with REST API load (medians with --runs). */
export interface ApiGroup {
  baseline: FiringRow;
  loaded: FiringRow;
  /** loaded p99 ÷ baseline p99 of each pair of runs. */
  perRunP99Ratio: (number | null)[];
}

/** The issue's criterion: with the API load, p99 lateness at most 10 % above without it. */
const API_P99_LIMIT = 1.1;

export interface Results {
  precision: FiringRow[];
  throughput: FiringRow[];
  api: ApiGroup | null;
  /** The `watch` scenario (issue 16): `loaded` is the run with watchers attached. */
  watch: ApiGroup | null;
  search: SearchResult | null;
  scale: ScaleRow | null;
  idle: IdleRow | null;
  storage: StorageRow | null;
  cli: CliRow[];
  peer: PeerGroup[];
  errors: { scenario: string; error: string }[];
}

const f = (x: number | null | undefined, digits = 2): string => {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  return x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
};

function table(head: string[], rows: string[][]): string {
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_h, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}

function firingTable(rows: FiringRow[]): string {
  return table(
    [
      'scenario',
      'system',
      'N',
      'R /s',
      'I s',
      'D s',
      'expected',
      'missed',
      'dup',
      'early',
      'p50 ms',
      'p90 ms',
      'p99 ms',
      'p99.9 ms',
      'max ms',
      'CPU s',
      'CPU %',
      'peak RSS MiB',
    ],
    rows.map((r) => [
      r.scenario + (typeof r.runs === 'number' && r.runs > 1 ? ` (median of ${r.runs})` : ''),
      r.system,
      f(r.n, 0),
      f(r.rate, 1),
      f(r.interval_s, 0),
      f(r.duration_s, 0),
      f(r.expected, 0),
      f(r.missed, 0),
      f(r.duplicates, 0),
      f(r.early, 0),
      f(r.lateness_ms.p50),
      f(r.lateness_ms.p90),
      f(r.lateness_ms.p99),
      f(r.lateness_ms.p99_9),
      f(r.lateness_ms.max),
      f(r.cpu_s),
      f(r.cpu_pct as number | null, 0),
      f(r.peak_rss_mb, 0),
    ]),
  );
}

const ratio = (a: number | null | undefined, b: number | null | undefined) => (a != null && b ? a / b : null);

export function peerRatios(g: PeerGroup): { system: string; p50: number | null; p99: number | null }[] {
  return g.peers.map((p) => ({
    system: p.system,
    p50: ratio(g.ours?.lateness_ms.p50, p.lateness_ms.p50),
    p99: ratio(g.ours?.lateness_ms.p99, p.lateness_ms.p99),
  }));
}

function peerTable(groups: PeerGroup[]): string {
  const rows: string[][] = [];
  for (const g of groups) {
    const ratios = peerRatios(g);
    for (const r of [g.ours, ...g.peers]) {
      if (!r) continue;
      const q = ratios.find((x) => x.system === r.system);
      rows.push([
        f(r.rate, 0),
        r.system,
        f(r.lateness_ms.p50),
        f(r.lateness_ms.p99),
        f(r.lateness_ms.max),
        `${f(r.missed, 0)} / ${f(r.duplicates, 0)} / ${f(r.early, 0)}`,
        f(r.cpu_pct as number | null, 0),
        f(r.peak_rss_mb, 0) + (Array.isArray(r.other_peak_rss_mb) ? ` + redis ${f(r.other_peak_rss_mb[0] as number, 0)}` : ''),
        q ? f(q.p50, 3) : '',
        q ? f(q.p99, 3) : '',
        q?.p99 ? `${f(1 / q.p99, 1 / q.p99 < 1 ? 3 : 1)}×` : '',
      ]);
    }
    if (g.skipped) rows.push([f(g.rate, 0), 'bullmq', g.skipped, '', '', '', '', '', '', '', '']);
  }
  return table(
    ['R /s', 'system', 'p50 ms', 'p99 ms', 'max ms', 'missed / dup / early', 'CPU %', 'peak RSS MiB', 'ours ÷ peer p50', 'ours ÷ peer p99', 'peer p99 ÷ ours'],
    rows,
  );
}

/** loaded p99 ÷ baseline p99 (of the medians), and whether it is within API_P99_LIMIT. */
export function apiRatio(g: ApiGroup): { p99: number | null; within: boolean | null } {
  const p99 = ratio(g.loaded.lateness_ms.p99, g.baseline.lateness_ms.p99);
  return { p99, within: p99 === null ? null : p99 <= API_P99_LIMIT };
}

/** The `watch` scenario: lateness without and with the watchers, and what each watcher received. */
function watchTable(g: ApiGroup): string {
  const received = (g.loaded.watchers as { kind: string; messages: number; bytes: number }[] | undefined) ?? [];
  const rpc = received.find((w) => w.kind === 'rpc');
  return pairTable(g, 'watchers', (r) => `${f(r.watchers_rpc as number, 0)} RPC + ${f(r.watchers_sse as number, 0)} dashboard`, {
    head: 'per watcher',
    cell: () => (rpc ? `${f(rpc.messages, 0)} notifications, ${f(rpc.bytes / 1_048_576, 1)} MiB` : ''),
  });
}

/**
 * The lateness of a pair of firing rows, without and with something added (the api and watch
 * scenarios): `what` heads the first column, `added` says what the second row added; `extra`
 * is a last column, filled for that row only.
 */
function pairTable(g: ApiGroup, what: string, added: (r: FiringRow) => string, extra?: { head: string; cell: (r: FiringRow) => string }): string {
  const runs = typeof g.loaded.runs === 'number' && g.loaded.runs > 1 ? ` (median of ${g.loaded.runs})` : '';
  const p99 = ratio(g.loaded.lateness_ms.p99, g.baseline.lateness_ms.p99);
  const head = [
    what,
    'N',
    'R /s',
    'D s',
    'expected',
    'missed / dup / early',
    'p50 ms',
    'p90 ms',
    'p99 ms',
    'max ms',
    'daemon CPU %',
    'peak RSS MiB',
    'p99 ÷ without',
  ];
  return table(
    extra ? [...head, extra.head] : head,
    [g.baseline, g.loaded].map((r) => {
      const base = r === g.baseline;
      const cells = [
        (base ? 'none' : added(r)) + runs,
        f(r.n, 0),
        f(r.rate, 1),
        f(r.duration_s, 0),
        f(r.expected, 0),
        `${f(r.missed, 0)} / ${f(r.duplicates, 0)} / ${f(r.early, 0)}`,
        f(r.lateness_ms.p50),
        f(r.lateness_ms.p90),
        f(r.lateness_ms.p99),
        f(r.lateness_ms.max),
        f(r.cpu_pct as number | null, 0),
        f(r.peak_rss_mb, 0),
        base ? '' : f(p99, 3),
      ];
      return extra ? [...cells, base ? '' : extra.cell(r)] : cells;
    }),
  );
}

function apiTables(g: ApiGroup): string {
  const q = apiRatio(g);
  const lateness = pairTable(g, 'REST API load', (r) => `${f(r.api_rate as number, 0)} req/s, ${String(r.api_mix)}`);
  const load = g.loaded.api_load as ApiLoadStats | undefined;
  if (!load) return lateness;
  const kinds: [string, ApiLoadStats['total']][] = [
    ['`get` GET /jobs/{id}', load.get],
    ['`create` POST /jobs/', load.create],
    ['`list` GET /jobs/', load.list],
    ['all', load.total],
  ];
  const latency = table(
    ['request', 'sent', '2xx', 'non-2xx', 'no answer', 'p50 ms', 'p99 ms', 'max ms', 'mean KiB'],
    kinds
      .filter(([, k]) => k.sent > 0)
      .map(([name, k]) => [
        name,
        f(k.sent, 0),
        f(k.ok, 0),
        f(k.non_2xx, 0),
        f(k.errors + k.unfinished, 0),
        f(k.latency_ms.p50),
        f(k.latency_ms.p99),
        f(k.latency_ms.max),
        f(k.mean_bytes === null ? null : k.mean_bytes / 1024, 1),
      ]),
  );
  const perRun = g.perRunP99Ratio.length > 1 ? ` (each pair of runs: ${g.perRunP99Ratio.map((x) => f(x, 3)).join(', ')})` : '';
  return (
    lateness +
    `\n\np99 with ÷ without the API load: **${f(q.p99, 3)}**${perRun}; the issue's limit is ${f(API_P99_LIMIT, 2)}: ` +
    `${q.within === null ? '–' : q.within ? 'within' : '**over**'}. The load generator sent ${f(load.sent_per_s, 1)} requests/s ` +
    `(asked ${f(load.rate_asked, 0)}), ${f(load.answered_per_s, 1)}/s were answered` +
    (load.failures ? `; failures: ${load.failures}` : '') +
    `. Latency is from when a request was due (open loop) until its answer was read:\n\n` +
    latency
  );
}

function searchTable(s: SearchResult): string {
  const rows = [...s.rows]
    .sort((a, b) => a.rate - b.rate)
    .map((r) => [
      f(r.rate, 0),
      f(r.n, 0),
      f(r.interval_s, 0),
      f(r.lateness_ms.p50),
      f(r.lateness_ms.p99),
      f(r.lateness_ms.max),
      `${f(r.missed, 0)} / ${f(r.duplicates, 0)} / ${f(r.early, 0)}`,
      f(r.cpu_pct as number | null, 0),
      r.pass ? 'yes' : 'no',
    ]);
  return (
    table(['R /s', 'N', 'I s', 'p50 ms', 'p99 ms', 'max ms', 'missed / dup / early', 'CPU %', 'p99 < 100 ms, none missed'], rows) +
    `\n\nHighest rate that passed: **${s.highest === null ? 'none of those tried' : `${f(s.highest, 0)} /s`}**` +
    (s.firstFail !== null ? ` (lowest that failed: ${f(s.firstFail, 0)} /s)` : ' (none failed up to the search limit)')
  );
}

function scaleTable(s: ScaleRow): string {
  return table(
    ['measure', 'value'],
    [
      ['jobs in the database', f(s.jobs, 0)],
      ['bulk insert (s) / database size (MiB)', `${f(s.seed_s, 1)} / ${f(s.db_mb, 0)}`],
      ['start-to-ready, empty database (ms)', f(s.ready_empty_ms, 0)],
      ['idle RSS, empty database (MiB)', f(s.idle_rss_empty_mb, 1)],
      ['start-to-ready (ms)', f(s.ready_ms, 0)],
      ['idle RSS (MiB)', f(s.idle_rss_mb, 1)],
      [`job.get p50 / p99 (ms, ${f(s.calls, 0)} calls)`, `${f(s.job_get_ms.p50, 3)} / ${f(s.job_get_ms.p99, 3)}`],
      [
        `REST GET /jobs/{id} p50 / p99 (ms, ${f(s.calls, 0)} calls, one keep-alive connection)`,
        `${f(s.job_get_rest_ms?.p50, 3)} / ${f(s.job_get_rest_ms?.p99, 3)}`,
      ],
      [`job.list first page of 100, p50 / p99 (ms, ${f(s.calls, 0)} calls)`, `${f(s.job_list_ms.p50, 3)} / ${f(s.job_list_ms.p99, 3)}`],
      [`job.submit, one at a time (/s; p50 / p99 ms)`, `${f(s.submit_per_s_sequential, 0)}; ${f(s.submit_ms.p50, 3)} / ${f(s.submit_ms.p99, 3)}`],
      [`job.submit, ${s.in_flight} in flight on one connection (/s)`, f(s.submit_per_s_in_flight, 0)],
      ['RSS after the calls / peak (MiB)', `${f(s.rss_after_mb, 1)} / ${f(s.peak_rss_mb, 1)}`],
    ],
  );
}

/** Runs of a job every minute for a year. */
const MINUTELY_YEAR_RUNS = 525_600;

function storageTable(s: StorageRow): string {
  const mib = (bytes: number | null) => (bytes === null ? null : bytes / 1048576);
  const yearCompacted =
    s.compacted_bytes_per_run === null || s.whole_bytes_per_run === null
      ? null
      : (MINUTELY_YEAR_RUNS - 10) * s.compacted_bytes_per_run + 10 * s.whole_bytes_per_run;
  const yearWhole = s.whole_bytes_per_run === null ? null : MINUTELY_YEAR_RUNS * s.whole_bytes_per_run;
  return table(
    ['measure', 'value'],
    [
      ['status document of each run (bytes of JSON)', f(s.document_bytes, 0)],
      ['bytes per run kept whole (runs and its indexes)', f(s.whole_bytes_per_run, 0)],
      ['bytes per run compacted (run_archive and its indexes)', f(s.compacted_bytes_per_run, 1)],
      [`store after ${f(s.runs, 0)} runs of ${f(s.jobs, 0)} jobs, compacted (file + WAL, MiB)`, f(s.store_mb, 1)],
      ['the same runs all kept whole (MiB, from bytes per run)', f(s.store_whole_estimate_mb, 0)],
      ['writing and compacting them (s)', f(s.build_s, 0)],
      ['a year of a minutely Transfer job (525,600 runs, all kept: MiB compacted / whole)', `${f(mib(yearCompacted), 1)} / ${f(mib(yearWhole), 0)}`],
      [`WAL: largest during ${f(s.burst_s, 0)} s of ${f(s.burst_jobs, 0)} jobs/s with 4 KB documents (MiB)`, f(s.wal_peak_mb, 1)],
      ['WAL at rest once the jobs are paused (MiB; after s)', `${f(s.wal_at_rest_mb, 2)}; ${f(s.wal_rest_after_s, 1)}`],
    ],
  );
}

function cliTable(rows: CliRow[]): string {
  return table(
    ['command', 'median ms', 'min ms', '× node -e 0', 'ran'],
    rows.map((r) => [`\`${r.command}\``, f(r.median_ms, 1), f(r.min_ms, 1), f(r.vs_node, 2), entryWords(r.entry as string | undefined)]),
  );
}

interface Target {
  target: string;
  measured: string;
  met: boolean | null;
}

function targets(res: Results, defaults: { n: number; largeN: number }): Target[] {
  const out: Target[] = [];
  const lat = (r: FiringRow) =>
    `p50 ${f(r.lateness_ms.p50)} · p99 ${f(r.lateness_ms.p99)} · max ${f(r.lateness_ms.max)} ms; missed/dup/early ${r.missed}/${r.duplicates}/${r.early}`;
  const clean = (r: FiringRow) => r.missed === 0 && r.duplicates === 0 && r.early === 0;
  const le = (x: number | null | undefined, limit: number) => (x == null ? null : x <= limit);
  const both = (...xs: (boolean | null)[]) => (xs.some((x) => x === null) ? null : xs.every(Boolean));
  const [small, large] = [res.precision.find((r) => r.n === defaults.n), res.precision.find((r) => r.n === defaults.largeN)];
  if (small) {
    out.push({
      target: `precision N=${f(small.n, 0)} R=${f(small.rate, 0)}: p50 ≤ 1, p99 ≤ 5, max ≤ 50 ms; 0 missed/dup/early`,
      measured: lat(small),
      met: both(le(small.lateness_ms.p50, 1), le(small.lateness_ms.p99, 5), le(small.lateness_ms.max, 50), clean(small)),
    });
  }
  if (large) {
    out.push({
      target: `precision N=${f(large.n, 0)}: within 2× (p50 ≤ 2, p99 ≤ 10, max ≤ 100 ms; 0 missed/dup/early)`,
      measured: lat(large),
      met: both(le(large.lateness_ms.p50, 2), le(large.lateness_ms.p99, 10), le(large.lateness_ms.max, 100), clean(large)),
    });
  }
  if (res.api) {
    const q = apiRatio(res.api);
    const { baseline: b, loaded: l } = res.api;
    out.push({
      target: `REST API at ${f(l.api_rate as number, 0)} req/s (N=${f(l.n, 0)}, R=${f(l.rate, 0)}): p99 lateness moves ≤ 10 %`,
      measured: `p99 ${f(b.lateness_ms.p99)} → ${f(l.lateness_ms.p99)} ms = ${f(q.p99, 3)}×; missed/dup/early ${l.missed}/${l.duplicates}/${l.early}`,
      met: both(q.within, clean(l)),
    });
  }
  const r1000 = res.throughput.find((r) => r.rate === 1000);
  if (r1000) out.push({ target: 'R=1,000: p99 ≤ 10 ms', measured: lat(r1000), met: both(le(r1000.lateness_ms.p99, 10), clean(r1000)) });
  if (res.search) {
    out.push({
      target: 'highest R with p99 < 100 ms ≥ 4,000 /s',
      measured: res.search.highest === null ? 'none passed' : `${f(res.search.highest, 0)} /s`,
      met: res.search.highest === null ? false : res.search.highest >= 4000,
    });
  }
  for (const g of res.peer) {
    for (const q of peerRatios(g)) {
      const limit = q.system.includes('defaults') ? 0.1 : 0.25;
      out.push({
        target: `R=${f(g.rate, 0)}: our p99 ≤ ${limit === 0.1 ? '1/10' : '1/4'} of ${q.system}`,
        measured: q.p99 === null ? '–' : `ours ÷ peer p99 = ${f(q.p99, 3)} (peer ${f(1 / q.p99, 1 / q.p99 < 1 ? 3 : 1)}× ours)`,
        met: q.p99 === null ? null : q.p99 <= limit,
      });
    }
  }
  const s = res.scale;
  if (s) {
    out.push({ target: `${f(s.jobs, 0)} jobs: ready ≤ 3 s`, measured: `${f(s.ready_ms, 0)} ms`, met: s.ready_ms <= 3000 });
    out.push({ target: `${f(s.jobs, 0)} jobs: idle RSS ≤ 200 MB`, measured: `${f(s.idle_rss_mb, 1)} MiB`, met: le(s.idle_rss_mb, 200) });
    out.push({ target: `${f(s.jobs, 0)} jobs: job.get p99 ≤ 2 ms`, measured: `${f(s.job_get_ms.p99, 3)} ms`, met: le(s.job_get_ms.p99, 2) });
    out.push({
      target: `${f(s.jobs, 0)} jobs: first page of job.list ≤ 20 ms (p99)`,
      measured: `p50 ${f(s.job_list_ms.p50, 3)} · p99 ${f(s.job_list_ms.p99, 3)} ms`,
      met: le(s.job_list_ms.p99, 20),
    });
  }
  if (s) {
    out.push({ target: 'idle RSS, no jobs ≤ 70 MiB (issue 18)', measured: `${f(s.idle_rss_empty_mb, 1)} MiB`, met: le(s.idle_rss_empty_mb, 70) });
    out.push({ target: `${f(s.jobs, 0)} jobs: idle RSS ≤ 90 MiB (issue 18)`, measured: `${f(s.idle_rss_mb, 1)} MiB`, met: le(s.idle_rss_mb, 90) });
    out.push({
      target: `${f(s.jobs, 0)} jobs: REST GET /jobs/{id} p99 ≤ 2 ms (issue 18)`,
      measured: `${f(s.job_get_rest_ms?.p99, 3)} ms`,
      met: le(s.job_get_rest_ms?.p99, 2),
    });
  }
  const idle = res.idle;
  if (idle) {
    out.push({
      target: `idle CPU, ${idle.jobs} hourly jobs ≤ 0.05 % (issue 18)`,
      measured: `${f(idle.cpu_pct, 3)} % (${f(idle.cpu_ms, 0)} ms in ${f(idle.window_s, 0)} s)`,
      met: le(idle.cpu_pct, 0.05),
    });
  }
  const st = res.storage;
  if (st) {
    out.push({
      target: 'a compacted run ≤ 200 bytes in the file',
      measured: `${f(st.compacted_bytes_per_run, 1)} bytes`,
      met: le(st.compacted_bytes_per_run, 200),
    });
    out.push({ target: 'WAL at rest ≤ 4 MiB after a burst', measured: `${f(st.wal_at_rest_mb, 2)} MiB`, met: le(st.wal_at_rest_mb, 4) });
  }
  for (const c of res.cli.filter((c) => c.command.startsWith('globus-timer job'))) {
    out.push({ target: `\`${c.command}\` ≤ 2.5× \`node -e 0\``, measured: `${f(c.median_ms, 1)} ms = ${f(c.vs_node, 2)}×`, met: le(c.vs_node, 2.5) });
  }
  return out;
}

export function markdown(res: Results, defaults: { n: number; largeN: number }): string {
  const parts: string[] = [];
  if (res.precision.length || res.throughput.length) {
    parts.push('### Precision and throughput (lateness = provider receive − slot)\n\n' + firingTable([...res.precision, ...res.throughput]));
  }
  if (res.api) parts.push('### The firing path with the REST API under load (same N, R, D; without and with the load)\n\n' + apiTables(res.api));
  if (res.watch)
    parts.push('### The firing path with watchers (same N, R, D; without and with 5 `job watch --all` and a dashboard stream)\n\n' + watchTable(res.watch));
  if (res.search) parts.push('### Highest rate with p99 < 100 ms\n\n' + searchTable(res.search));
  if (res.scale) parts.push('### Scale\n\n' + scaleTable(res.scale));
  if (res.idle)
    parts.push(
      '### Idle (issue 18)\n\n' +
        table(
          ['measure', 'value'],
          [
            [
              `daemon CPU with ${res.idle.jobs} hourly jobs, nothing due (${f(res.idle.window_s, 0)} s)`,
              `${f(res.idle.cpu_pct, 4)} % of a core (${f(res.idle.cpu_ms, 0)} ms)`,
            ],
            ['RSS at the end (MiB)', f(res.idle.rss_mb, 1)],
          ],
        ),
    );
  if (res.storage) parts.push('### Storage (issue 17)\n\n' + storageTable(res.storage));
  if (res.cli.length) parts.push('### CLI (whole process, median)\n\n' + cliTable(res.cli));
  if (res.peer.length) parts.push('### Side by side with BullMQ (same N, R, D, same provider, one bench run)\n\n' + peerTable(res.peer));
  const t = targets(res, defaults);
  if (t.length) {
    parts.push(
      '### Targets\n\n' +
        table(
          ['target', 'measured', 'met'],
          t.map((x) => [x.target, x.measured, x.met === null ? '–' : x.met ? 'yes' : '**no**']),
        ),
    );
  }
  if (res.errors.length) parts.push('### Errors\n\n' + res.errors.map((e) => `- ${e.scenario}: ${e.error.split('\n')[0]}`).join('\n'));
  return parts.join('\n\n') + '\n';
}

export function benchmarksFile(res: Results, machine: Machine, commandLine: string, defaults: { n: number; largeN: number }, notes: string): string {
  const m = machine;
  const machineTable = table(
    ['', ''],
    [
      ['date', m.date],
      ['CPU', `${m.cpus} × ${m.cpu_model}`],
      ['memory', `${m.memory_gib} GiB`],
      ['OS / kernel', `${m.os} / ${m.kernel}`],
      ['Node.js', m.node],
      ['SQLite', m.sqlite],
      [
        'packages',
        Object.entries(m.packages)
          .map(([k, v]) => `${k} ${v}`)
          .join(', '),
      ],
      ['redis-server', m.redis_server ?? 'not installed'],
      ['code', `commit ${m.git_commit}, ${m.src_changed_files} file(s) under src/ changed since; src/ sha1 ${m.src_sha1}`],
      ['globus-timer entry', `bin/globus-timer.js → ${m.entry === 'bundle' ? 'dist/cli bundle (esbuild)' : entryWords(m.entry)}`],
      ['idle before the run', `${m.idle_before_pct}% of both cores`],
      ...(m.src_changes?.length
        ? [['src/ changed during the run', m.src_changes.map((c) => `before ${c.before}: sha1 ${c.src_sha1} (${entryWords(c.entry)})`).join('; ')]]
        : []),
    ],
  );
  return `# Benchmarks

Measured with \`npm run bench\` (bench/, not part of \`npm test\`). Regenerate this file with the
command line below; \`npm run bench -- --help\` lists the options.

\`\`\`sh
${commandLine}
\`\`\`

## Machine

${machineTable}

## Results

${markdown(res, defaults)}
${notes}`;
}

/** This run's tables, to append to an existing BENCHMARKS.md (`--append`). */
export function addendum(res: Results, m: Machine, commandLine: string, defaults: { n: number; largeN: number }): string {
  const changes = m.src_changes?.length ? `; src/ changed during it: ${m.src_changes.map((c) => `before ${c.before} → ${c.src_sha1}`).join(', ')}` : '';
  return `## Addendum: \`${commandLine}\`

${m.date}, same machine; commit ${m.git_commit}, src/ sha1 ${m.src_sha1}, ${m.src_changed_files} file(s) under src/ changed since the commit; bin/globus-timer.js → ${entryWords(m.entry)}; ${m.idle_before_pct}% idle before the run${changes}.

${markdown(res, defaults)}`;
}
