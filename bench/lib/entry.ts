/**
 * How globus-timer is started in the bench: `node bin/globus-timer.js ...`, as installed.
 * The bin runs the esbuild bundle in dist/cli/ when it is at least as new as src/, else the
 * sources through tsx; the bench builds the bundle first (as `npm install` does) so that
 * what is measured is the code in src/ as shipped, and reports which of the two ran.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './procs.ts';

export const BIN = path.join(ROOT, 'bin/globus-timer.js');
const BUILD = path.join(ROOT, 'scripts/build-cli.mjs');
const BUNDLE = path.join(ROOT, 'dist/cli/main.js');

/** Build dist/cli if this checkout has a build script; returns what the bin will run. */
export function ensureBundle(): string {
  if (fs.existsSync(BUILD)) {
    execFileSync(process.execPath, [BUILD], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  }
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

/** 'bundle' when bin/globus-timer.js will run dist/cli (same test as the bin), else 'tsx'. */
export function entryKind(): 'bundle' | 'tsx' {
  try {
    return fs.statSync(BUNDLE).mtimeMs >= newestMtimeMs(path.join(ROOT, 'src')) ? 'bundle' : 'tsx';
  } catch {
    return 'tsx';
  }
}
