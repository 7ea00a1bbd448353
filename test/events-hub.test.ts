/**
 * The event hub (daemon/events/hub.ts) inside a real daemon on a fake clock: an event tells
 * only what the database holds, interests filter what is noted, a failing listener harms
 * no other, and job changes are told.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DaemonEvent, RunEvent } from '../src/contract/protocol.ts';
import { getRun } from '../src/daemon/store/runs.ts';
import { advanceUntil, clockedDaemon, waitFor } from './support/clocked-daemon.ts';

test('run events come after their commit and say what the database holds; job events follow pause', async (t) => {
  const h = await clockedDaemon(t);
  h.provider.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 1, final: 'SUCCEEDED' };
  const id = await h.submit({ '--name': 'told', '--interval': '60' });
  const seen: DaemonEvent[] = [];
  const mismatches: string[] = [];
  h.daemon.events.subscribe((events) => {
    for (const e of events) {
      seen.push(e);
      if (e.type !== 'run') continue;
      // What the event says must be committed already: read it back from the file.
      const row = getRun(h.daemon.db, e.run_id);
      if (row?.state !== e.run.run_state) mismatches.push(`${e.run.run_state} told, ${row?.state} stored`);
    }
  });
  const ended = await advanceUntil(h.clock, 'the run to end', () => seen.find((e): e is RunEvent => e.type === 'run' && e.run.completed_at !== null));
  assert.equal(ended.run.run_state, 'succeeded');
  assert.equal(ended.job_name, 'told');
  assert.equal(ended.job_id, id);
  assert.deepEqual(mismatches, []);
  await h.cli(['job', 'pause', id]);
  await waitFor('the job event', () => seen.find((e) => e.type === 'job' && e.status === 'inactive'));
});

test('interest: completed-only listeners hear only ends; a job filter keeps other jobs out; a throwing listener harms no other', async (t) => {
  const h = await clockedDaemon(t);
  h.provider.defaultRunReply = { kind: 'accept', httpStatus: 202, activePolls: 2, final: 'FAILED' };
  const a = await h.submit({ '--name': 'a', '--interval': '60' });
  const b = await h.submit({ '--name': 'b', '--interval': '60' });
  const ends: RunEvent[] = [];
  const all: RunEvent[] = [];
  h.daemon.events.subscribe(() => {
    throw new Error('a broken listener');
  });
  h.daemon.events.subscribe(
    (events) => {
      for (const e of events) if (e.type === 'run') ends.push(e);
    },
    { runs: 'completed', jobs: (jobId) => jobId === a },
  );
  h.daemon.events.subscribe((events) => {
    for (const e of events) if (e.type === 'run') all.push(e);
  });
  await advanceUntil(h.clock, 'both runs to end', () => all.filter((e) => e.run.completed_at !== null).length === 2);
  await waitFor('the completed event of a', () => ends.length > 0);
  assert.ok(
    ends.every((e) => e.job_id === a && e.run.run_state === 'failed'),
    JSON.stringify(ends),
  );
  assert.ok(all.some((e) => e.job_id === b && e.run.completed_at === null));
});
