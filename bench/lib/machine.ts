/** What the figures were measured on: machine, versions, code. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { redisServerVersion } from './peer.ts';
import { ROOT, sleep } from './procs.ts';

export interface Machine {
  date: string;
  cpus: number;
  cpu_model: string;
  memory_gib: number;
  os: string;
  kernel: string;
  node: string;
  sqlite: string;
  packages: Record<string, string>;
  redis_server: string | null;
  git_commit: string;
  /** Files under src/ that differ from the commit (another engineer may be editing them). */
  src_changed_files: number;
  /** sha1 of every file under src/, so figures can be tied to the exact code measured. */
  src_sha1: string;
  /** Share of both cores idle over one second before the run (other load on the machine). */
  idle_before_pct: number;
  /** Whether the dist/cli bundle that bin/globus-timer.js ran was current (entry.ts: EntryKind). */
  entry?: string;
  /** src/ changed while the bench ran (someone else editing): the new sha1, and before which scenario it was seen. */
  src_changes?: { before: string; src_sha1: string; entry: string }[];
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

function pkgVersion(name: string): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'missing';
  }
}

function cpuIdle(): { idle: number; total: number } {
  const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { idle: (fields[3] ?? 0) + (fields[4] ?? 0), total: fields.reduce((a, b) => a + b, 0) };
}

/** sha1 (12 hex digits) over every file under src/: changes when anyone edits the sources. */
export function srcHash(): string {
  const h = createHash('sha1');
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else {
        h.update(path.relative(ROOT, p));
        h.update(fs.readFileSync(p));
      }
    }
  };
  walk(path.join(ROOT, 'src'));
  return h.digest('hex').slice(0, 12);
}

export async function describeMachine(): Promise<Machine> {
  const cpuinfo = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
  const osRelease = fs.existsSync('/etc/os-release') ? fs.readFileSync('/etc/os-release', 'utf8') : '';
  const a = cpuIdle();
  await sleep(1_000);
  const b = cpuIdle();
  const { default: Database } = await import('better-sqlite3');
  const mem = new Database(':memory:');
  const sqlite = (mem.prepare('select sqlite_version() as v').get() as { v: string }).v;
  mem.close();
  return {
    date: new Date().toISOString(),
    cpus: os.availableParallelism(),
    cpu_model: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown',
    memory_gib: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(osRelease)?.[1] ?? `${os.type()} ${os.release()}`,
    kernel: os.release(),
    node: process.version,
    sqlite,
    packages: Object.fromEntries(['better-sqlite3', 'drizzle-orm', 'undici', 'tsx', 'bullmq', 'ioredis'].map((p) => [p, pkgVersion(p)])),
    redis_server: redisServerVersion(),
    git_commit: sh('git', ['rev-parse', '--short', 'HEAD']) || 'unknown',
    src_changed_files: sh('git', ['status', '--porcelain', '--', 'src']).split('\n').filter(Boolean).length,
    src_sha1: srcHash(),
    idle_before_pct: Math.round((100 * (b.idle - a.idle)) / Math.max(1, b.total - a.total)),
  };
}
