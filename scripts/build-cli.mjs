// Bundles the CLI (and, as a lazily loaded chunk, the daemon) into dist/cli/ with esbuild,
// so `globus-timer` starts without compiling TypeScript on every run (tsx costs several
// hundred ms). The CLI's own dependencies (yargs above all: ~30 modules to resolve and read)
// are bundled too; the daemon's stay in node_modules, since better-sqlite3 is native and
// pino starts worker files by path. Run by `npm install` (prepare) and
// before `npm test`; bin/globus-timer.js falls back to tsx when the bundle is missing or
// older than the sources.
import { build } from 'esbuild';
import fs from 'node:fs';

fs.rmSync(new URL('../dist/cli', import.meta.url), { recursive: true, force: true });
await build({
  entryPoints: ['src/cli/main.ts'],
  outdir: 'dist/cli',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['better-sqlite3', 'drizzle-orm', 'drizzle-kit', 'pino', 'pino-roll', 'pino-pretty', 'undici', 'ajv', 'croner', 'tsx'],
  sourcemap: 'linked',
  logLevel: 'warning',
});
