/** Summarise a V8 .cpuprofile (from `node --cpu-prof`): self time by function and by package. */
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './procs.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

export interface ProfileSummary {
  file: string;
  total_ms: number;
  /** Top functions by self time. */
  functions: { name: string; self_ms: number; pct: number }[];
  /** Self time by where the code lives: a package under node_modules, a src/ file, node internals. */
  places: { place: string; self_ms: number; pct: number }[];
}

export function summarizeProfile(file: string, top = 15): ProfileSummary {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < prof.samples.length; i++) {
    const id = prof.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
  }
  const fn = new Map<string, number>();
  const place = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') continue;
    total += us;
    const where = placeOf(url, functionName);
    const name = `${functionName || '(anonymous)'} ${shortUrl(url)}${url ? `:${lineNumber + 1}` : ''}`;
    fn.set(name, (fn.get(name) ?? 0) + us);
    place.set(where, (place.get(where) ?? 0) + us);
  }
  const rows = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, us]) => [k, Math.round(us / 100) / 10, Math.round((1000 * us) / Math.max(1, total)) / 10] as const);
  return {
    file,
    total_ms: Math.round(total / 1000),
    functions: rows(fn, top).map(([name, self_ms, pct]) => ({ name, self_ms, pct })),
    places: rows(place, top).map(([p, self_ms, pct]) => ({ place: p, self_ms, pct })),
  };
}

function shortUrl(url: string): string {
  const local = url.replace(/^file:\/\//, '');
  return local.startsWith(ROOT) ? path.relative(ROOT, local) : local;
}

function placeOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return url;
  const local = shortUrl(url);
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(local);
  if (pkg) return pkg[1]!;
  return local;
}

/** The newest .cpuprofile in `dir`. */
export function newestProfile(dir: string): string | null {
  if (!fs.existsSync(dir)) return null;
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => path.join(dir, f))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return files[0] ?? null;
}
