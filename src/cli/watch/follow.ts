/**
 * Following runs to their end (issue 16): `job watch ID` (the run in progress, or the next
 * one), `job watch --all`, `job run --wait`, and `job history -f`. Each subscribes first and
 * then asks, so no change falls between the answer and the first notification.
 */
import { RpcClient, type JobsClient } from '../../contract/client.ts';
import type { DaemonEvent, JobDocument, RunEvent } from '../../contract/protocol.ts';
import { InvalidInputError, TimerError, ERROR_CODES } from '../../core/errors.ts';
import { safe } from '../../util/printable.ts';
import type { GlobalArgs } from '../context.ts';
import { displayTime } from '../display-time.ts';
import { formatSpan } from '../output.ts';
import { EventStream } from './event-stream.ts';
import { WatchView } from './view.ts';

/** The exit status a followed run leaves: 0 when it SUCCEEDED, 1 when it FAILED (or was refused). */
export function exitCodeOf(run: RunEvent): number {
  return run.run.run_state === 'succeeded' ? 0 : 1;
}

/** The daemon's connection: following needs its events, which a Timers REST API does not send. */
export function daemonOnly(client: JobsClient, what: string): RpcClient {
  if (client instanceof RpcClient) return client;
  throw new InvalidInputError(`${what} needs the local daemon: a Timers API sends no run events (use --service local)`);
}

/**
 * Show the runs of `stream` that `wanted` picks, until `target` (a run id, or the first run
 * `wanted` accepts when null) has ended; returns its last event.
 */
async function untilEnded(stream: EventStream, view: WatchView, jobId: string, target: number | null, wanted: (e: RunEvent) => boolean): Promise<RunEvent> {
  for (;;) {
    for (const e of await stream.next()) {
      if (e.type === 'job') {
        if (e.job_id === jobId && e.status === 'deleted' && target === null)
          throw new TimerError(ERROR_CODES.JOB_DELETED, `job ${jobId} was deleted while waiting for its next run`);
        continue;
      }
      if (target === null && wanted(e)) target = e.run_id;
      if (e.run_id !== target) continue;
      view.show(e);
      if (e.run.completed_at !== null) return e;
    }
  }
}

/** `job watch ID`: the newest run in progress, or else the next run, to its end. */
export async function watchJob(client: RpcClient, job: JobDocument, args: GlobalArgs): Promise<RunEvent> {
  const { stream, openRuns } = await EventStream.open(client, [job.job_id]);
  const view = new WatchView(args.io, args.format);
  try {
    const current = openRuns.at(-1) ?? null;
    if (current) view.show(current);
    else if (job.status !== 'loaded' || job.next_run === null) {
      throw new TimerError(
        ERROR_CODES.INVALID_INPUT,
        safe`job ${job.job_id} is ${job.status} and has no run in progress: there is no run to watch (resume it, or run it now with: globus-timer job run ${job.job_id} --wait)`,
      );
    } else view.note(safe`waiting for the next run of ${job.name} at ${displayTime(job.next_run)} (in ${formatSpan(Date.parse(job.next_run) - Date.now())})`);
    const end = await untilEnded(stream, view, job.job_id, current?.run_id ?? null, () => true);
    view.note(null);
    return end;
  } finally {
    view.close();
  }
}

/** `job watch --all`: every job's runs as they change, until the daemon stops (exit 1) or Ctrl-C. */
export async function watchAll(client: RpcClient, args: GlobalArgs): Promise<never> {
  const { stream, openRuns } = await EventStream.open(client, null);
  const view = new WatchView(args.io, args.format);
  try {
    for (const e of openRuns) view.show(e);
    view.note('watching every job (Ctrl-C ends)');
    for (;;) for (const e of await stream.next()) if (e.type === 'run') view.show(e);
  } finally {
    view.close();
  }
}

/**
 * `job run ID --wait`: subscribe, send the run (`send` is the job.run call), follow it. Events
 * of the run that come before the answer are kept and shown once its request id is known.
 */
export async function runAndWait(client: RpcClient, jobId: string, args: GlobalArgs, send: () => Promise<{ run: { request_id: string } }>): Promise<RunEvent> {
  const { stream } = await EventStream.open(client, [jobId]);
  const view = new WatchView(args.io, args.format);
  try {
    const { run } = await send();
    if (args.format !== 'json') view.note(`run sent (request ${run.request_id}); following it to its end (Ctrl-C stops following, not the run)`);
    const end = await untilEnded(stream, view, jobId, null, (e) => e.run.request_id === run.request_id);
    view.note(null);
    return end;
  } finally {
    view.close();
  }
}

/**
 * `job history ID -f`: subscribe, then `start` (print the runs so far), then each run of the
 * job as it ends, through `print`, until the daemon stops.
 */
export async function followEndedRuns(client: RpcClient, jobId: string, start: () => Promise<void>, print: (e: RunEvent) => void): Promise<never> {
  const { stream } = await EventStream.open(client, [jobId]);
  await start();
  for (;;) {
    const batch: DaemonEvent[] = await stream.next();
    for (const e of batch) if (e.type === 'run' && e.run.completed_at !== null) print(e);
  }
}
