/**
 * The event hub (daemon/events/hub.ts) inside a real daemon on a fake clock: an event tells
 * only what the database holds, interests filter what is noted, a failing listener harms
 * no other, and job changes are told.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_FRAME_BYTES, type DaemonEvent, type EventsNotification, type JobEvent, type RunEvent } from '../src/contract/protocol.ts';
import { notifications } from '../src/daemon/rpc-watchers.ts';
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

test('a burst of events goes out as several notifications, each far below the frame limit, in order', () => {
  const events: JobEvent[] = Array.from({ length: 20_000 }, (_, i) => ({ type: 'job', job_id: `job-${i}-${'x'.repeat(40)}`, status: 'loaded' }));
  const frames = notifications(events);
  assert.ok(frames.length > 1, `${frames.length} frames`);
  const told: DaemonEvent[] = [];
  for (const frame of frames) {
    assert.ok(frame.bytes < MAX_FRAME_BYTES / 8, `${frame.bytes} bytes`);
    assert.equal(frame.bytes, Buffer.byteLength(frame.text));
    const message = JSON.parse(frame.text) as { jsonrpc: string; method: string; params: EventsNotification; id?: unknown };
    assert.equal(message.jsonrpc, '2.0');
    assert.equal(message.method, 'job.events');
    assert.equal(message.id, undefined, 'a notification has no id');
    told.push(...message.params.events);
  }
  assert.deepEqual(told, events);
  assert.deepEqual(notifications([]), []);
});
