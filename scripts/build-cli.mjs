// Bundles the CLI (and, as a lazily loaded chunk, the daemon) into dist/cli/ with esbuild,
// so `globus-timer` starts without compiling TypeScript on every run (tsx costs several
// hundred ms). The CLI's own dependencies (yargs above all: ~30 modules to resolve and read)
// are bundled too; the daemon's stay in node_modules, since better-sqlite3 is native and
// pino starts worker files by path. Run by `npm install` (prepare) and
// before `npm test`; bin/globus-timer.js falls back to tsx when the bundle is missing or
// older than the sources.
import { build } from 'esbuild';
import fs from 'node:fs';

// Bundled: the CLI's pure-ESM start-up path. Everything else stays external, so a new
// (CommonJS, native or worker-spawning) dependency cannot break the bundle by accident.
// string-width (table widths in output.ts) is on that path, and yargs imports it too: left
// external, both would resolve it and its three dependencies from node_modules on every
// start (about 10 ms more to load the CLI).
const BUNDLED = new Set(['yargs', 'json-rpc-2.0', 'env-paths', 'string-width']);
const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const external = [...Object.keys(pkg.dependencies), ...Object.keys(pkg.devDependencies ?? {})].filter((d) => !BUNDLED.has(d));

fs.rmSync(new URL('../dist/cli', import.meta.url), { recursive: true, force: true });
await build({
  entryPoints: ['src/cli/main.ts'],
  outdir: 'dist/cli',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external,
  sourcemap: 'linked',
  logLevel: 'warning',
});
