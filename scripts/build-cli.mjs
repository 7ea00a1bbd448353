// Bundles the CLI (and, as a lazily loaded chunk, the daemon) into dist/cli/ with esbuild,
// so `globus-timer` starts without compiling TypeScript on every run (tsx costs several
// hundred ms, and is a dev dependency: the package ships dist/, not src/). The CLI's own
// dependencies (yargs above all: ~30 modules to resolve and read) are bundled too; the
// daemon's stay in node_modules, since better-sqlite3 is native and pino starts worker
// files by path. Run by `npm install` in a checkout and `npm pack` (prepare), and before
// `npm test`, `npm run bench` and `npm run torture`; bin/globus-timer.js runs nothing else.
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Bundled: the CLI's pure-ESM start-up path. Everything else stays external, so a new
// (CommonJS, native or worker-spawning) dependency cannot break the bundle by accident.
// string-width (table widths in output.ts) is on that path, and yargs imports it too: left
// external, both would resolve it and its three dependencies from node_modules on every
// start (about 10 ms more to load the CLI).
const BUNDLED = new Set(['yargs', 'json-rpc-2.0', 'env-paths', 'string-width']);
const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const external = [...Object.keys(pkg.dependencies), ...Object.keys(pkg.devDependencies ?? {})].filter((d) => !BUNDLED.has(d));

// Built beside dist/cli and swapped in with two renames: a CLI started while this runs (a
// test, another terminal, the bench between scenarios) finds the old bundle or the new one,
// never a half-written or missing one, which the bin would report as "not built". A build
// that fails leaves the previous bundle as it was.
const out = path.join(root, 'dist', 'cli');
const fresh = `${out}.${process.pid}.tmp`;
const old = `${out}.${process.pid}.old`;
try {
  await build({
    absWorkingDir: root,
    // The REST API's worker thread is started by file (daemon/api/thread.ts): its own entry,
    // dist/cli/api-worker.js, beside the chunks it shares with the daemon.
    entryPoints: { main: 'src/cli/main.ts', 'api-worker': 'src/daemon/api/worker.ts' },
    outdir: fresh,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external,
    // For `node --enable-source-maps` in a checkout; the package leaves the maps out (package.json `files`).
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  // The dashboard's page, script and styles (issue 16), served by the API thread from
  // dist/cli/dashboard (daemon/api/dashboard.ts): plain files, shipped with the package.
  fs.cpSync(path.join(root, 'src', 'dashboard'), path.join(fresh, 'dashboard'), { recursive: true });
  // Another build may swap its output in between our two renames: then move that one aside too.
  for (;;) {
    fs.rmSync(old, { recursive: true, force: true });
    try {
      fs.renameSync(out, old);
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
    }
    try {
      fs.renameSync(fresh, out);
      break;
    } catch (err) {
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
    }
  }
} finally {
  fs.rmSync(fresh, { recursive: true, force: true });
  fs.rmSync(old, { recursive: true, force: true });
}
