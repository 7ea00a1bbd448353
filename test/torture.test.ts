/**
 * The fast subset of the torture suite (issue #5): every scenario at its `fast` size, with
 * the real daemon process, a real SQLite file and a recording loopback provider. The long
 * version is `npm run torture`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { problems } from '../torture/lib/scenario.ts';
import { SCENARIOS } from '../torture/scenarios/index.ts';

/**
 * Scenarios whose findings are not all fixed yet: they run, and print what they found, but
 * do not fail `npm test` until then (issue #5 stays open for them; see the closing note).
 */
const OPEN_FINDINGS: Record<string, string> = {};

for (const scenario of SCENARIOS) {
  const todo = OPEN_FINDINGS[scenario.name];
  test(`torture: ${scenario.name} — ${scenario.describe}`, { timeout: 240_000, ...(todo ? { todo } : {}) }, async (t) => {
    const result = await scenario.run(scenario.fast, (line) => t.diagnostic(line));
    for (const note of result.notes) t.diagnostic(note);
    assert.deepEqual(problems(result), [], `${scenario.name} broke its guarantees`);
    if (!result.ran) {
      // Nothing of it could run here (not root, no libfaketime, …): a skip, not a pass.
      t.skip(result.skipped.join('; '));
      return;
    }
    // A part that could not run here is a skipped subtest of its own, so the summary counts it.
    for (const why of result.skipped) await t.test(`not run here: ${why.split(':')[0]}`, { skip: why }, () => {});
    assert.ok(result.slotsChecked > 0 || result.notes.length > 0, 'the scenario checked something');
  });
}
