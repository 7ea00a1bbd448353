#!/usr/bin/env node
// The CLI entry point. It runs the esbuild bundle in dist/cli/ (built by `npm install` and
// `npm test`) when that is at least as new as every file in src/; otherwise it runs the
// TypeScript sources through tsx, so a `git pull` without a rebuild is slower, never stale.
import fs from 'node:fs';

const bundle = new URL('../dist/cli/main.js', import.meta.url);

function newestMtimeMs(dir) {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = `${dir}/${entry.name}`;
    newest = Math.max(newest, entry.isDirectory() ? newestMtimeMs(p) : fs.statSync(p).mtimeMs);
  }
  return newest;
}

function bundleIsFresh() {
  try {
    return fs.statSync(bundle).mtimeMs >= newestMtimeMs(new URL('../src', import.meta.url).pathname);
  } catch {
    return false;
  }
}

let runCli;
if (bundleIsFresh()) {
  ({ runCli } = await import(bundle.href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ runCli } = await import('../src/cli/main.ts'));
}
process.exitCode = await runCli(process.argv.slice(2));
