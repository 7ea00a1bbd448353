/**
 * The README's first steps and its map of the code stay true (issue 12 item 17): the quick
 * start puts `globus-timer` on the PATH instead of paying for npx on every call, and the
 * Layout section names every folder of src/.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { ROOT } from './support/env.ts';

const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** The text of the section under `## title`, up to the next `## `. */
function section(title: string): string {
  const start = README.indexOf(`\n## ${title}\n`);
  assert.notEqual(start, -1, `README has no section "${title}"`);
  const end = README.indexOf('\n## ', start + 1);
  return README.slice(start, end === -1 ? undefined : end);
}

/** Every directory under src/, as `src/a/` and `src/a/b/`. */
function sourceFolders(dir = 'src'): string[] {
  return fs
    .readdirSync(path.join(ROOT, dir), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .flatMap((e) => [`${dir}/${e.name}/`, ...sourceFolders(`${dir}/${e.name}`)]);
}

test('README quick start: npm install and npm start set it up, npm link puts globus-timer on the PATH', () => {
  const quick = section('Install and quick start');
  const setup = /```sh\n([\s\S]*?)```/.exec(quick)?.[1] ?? '';
  const commands = setup.split('\n').map((line) => line.replace(/\s+#.*$/, '').trim());
  assert.deepEqual(commands.filter(Boolean), ['npm install', 'npm link', 'npm start']);
  // The examples call globus-timer itself: npx costs its start-up on every call.
  assert.doesNotMatch(quick, /^npx globus-timer/m);
  assert.match(quick, /`node -e 0`[^.]*\b\d+ ms/, 'the cost of bare Node, next to ours');
});

test('README Layout: every folder of src/ is listed', () => {
  const layout = section('Layout');
  const folders = sourceFolders();
  assert.ok(folders.includes('src/cli/commands/'));
  for (const folder of folders) assert.match(layout, new RegExp(`^${folder.replaceAll('/', '\\/')} `, 'm'), `${folder} is not in the Layout section`);
});
