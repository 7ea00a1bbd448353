import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The directory of globus-timer's package.json, found by walking up from this module. The
 * same code runs from src/ (tsx), from the CLI bundle in dist/cli/ and from an installed
 * package, each at another depth, so no fixed `../..` would be right for all of them.
 */
function findPackageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest) && (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string }).name === 'globus-timer') return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find globus-timer's package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

const PACKAGE_ROOT = findPackageRoot();

export const VERSION: string = (JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** The CLI entry point (what a detached daemon and the service units run). */
export const CLI_BIN = path.join(PACKAGE_ROOT, 'bin', 'globus-timer.js');

/** drizzle-kit's migrations, shipped with the package. */
export const MIGRATIONS_DIR = path.join(PACKAGE_ROOT, 'drizzle');
