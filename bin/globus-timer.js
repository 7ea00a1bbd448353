#!/usr/bin/env node
// The CLI entry point: the esbuild bundle in dist/cli/ (scripts/build-cli.mjs), nothing else.
// The package ships dist/, not src/, and tsx is a dev dependency, so there is no fallback to
// the TypeScript sources.
//
// In a git checkout the bundle can be older than src/ (after a `git pull` or an edit). It
// runs anyway, unchecked and without a warning: whatever runs the code builds first
// (`npm install` and `npm pack` by prepare, `npm test` by pretest, `npm run torture` by
// pretorture, `npm run bench` itself), and after a pull `npm run build` (or `npm install`)
// brings the bundle up to date. Checking would cost a walk of src/ on every start, and a
// warning on stderr would break the one-line error contract and shell completion for
// anyone editing src/; failing would stop a daemon that a service unit restarts.
const bundle = new URL('../dist/cli/main.js', import.meta.url);

let cli;
try {
  cli = await import(bundle.href);
} catch (err) {
  // Only the bundle itself missing: a dependency it cannot find is another problem, shown as is.
  const fs = await import('node:fs');
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' || fs.existsSync(bundle)) throw err;
  const { fileURLToPath } = await import('node:url');
  const packageDir = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
  process.stderr.write(`globus-timer: the CLI is not built (no dist/cli/main.js); run \`npm run build\` in ${packageDir}\n`);
  process.exitCode = 1;
}
if (cli) process.exitCode = await cli.runCli(process.argv.slice(2));
