/**
 * How globus-timer is started in the bench: `node bin/globus-timer.js ...`, as installed.
 * The bin runs the esbuild bundle in dist/cli/ and nothing else (no fallback to the sources),
 * whether or not it is older than src/; so the bench builds it first, and again whenever
 * src/ changes during a run, so that what is measured is the code in src/ as shipped, and
 * it reports whether the bundle was current.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './procs.ts';

export const BIN = path.join(ROOT, 'bin/globus-timer.js');
const BUILD = path.join(ROOT, 'scripts/build-cli.mjs');
const BUNDLE = path.join(ROOT, 'dist/cli/main.js');

/** Build dist/cli; returns what the bin will run. */
export function ensureBundle(): EntryKind {
  execFileSync(process.execPath, [BUILD], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  return entryKind();
}

function newestMtimeMs(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtimeMs(p) : fs.statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * 'bundle' when dist/cli is at least as new as every file in src/; 'stale bundle' when
 * src/ changed after the build (the bin runs it anyway); 'no bundle' when there is none
 * (the bin refuses to start).
 */
export type EntryKind = 'bundle' | 'stale bundle' | 'no bundle';

export function entryKind(): EntryKind {
  let built: number;
  try {
    built = fs.statSync(BUNDLE).mtimeMs;
  } catch {
    return 'no bundle';
  }
  return built >= newestMtimeMs(path.join(ROOT, 'src')) ? 'bundle' : 'stale bundle';
}

/** An `entry` of the results, in words for the report. */
export function entryWords(entry: string | undefined): string {
  switch (entry) {
    case 'bundle':
      return 'dist/cli bundle';
    case 'stale bundle':
      return 'dist/cli bundle, older than src/';
    case 'no bundle':
      return 'no dist/cli bundle (the bin refused to start)';
    default:
      return String(entry ?? '');
  }
}
