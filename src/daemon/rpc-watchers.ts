/**
 * The RPC socket's watchers (issue 16): connections that called `events.subscribe`, and
 * the `job.events` notifications they get. One hub subscription serves them all, held
 * only while someone watches; each batch is serialized once per distinct filter (every
 * job, or one set of jobs) and the same frame written to each watcher with that filter, so
 * a watcher costs the daemon a write.
 *
 * A watcher that does not read (a stopped `job watch | less`) must not make the daemon
 * buffer without end: past MAX_BACKLOG_BYTES unsent its connection is closed, and the CLI
 * says the daemon ended the watch.
 */
import type net from 'node:net';
import { EVENTS_NOTIFICATION } from '../contract/events.ts';
import { writeFrame, type Frame } from '../contract/framing.ts';
import type { DaemonEvent, SubscribeParams, SubscribeResult } from '../contract/protocol.ts';
import type { Logger } from '../log/logger.ts';
import type { EventHub } from './events/hub.ts';

/** Unsent bytes a watcher may leave queued before it is dropped: about a minute of a busy daemon's events. */
const MAX_BACKLOG_BYTES = 8 << 20;

/**
 * Bytes of events per notification: a burst of thousands of runs goes out in several frames,
 * each far below MAX_FRAME_BYTES (an event is small: hub.ts leaves the provider's documents out).
 */
const NOTIFICATION_BYTES = 256 << 10;

interface Watch {
  /** null: every job. */
  jobs: Set<string> | null;
  /** Watchers with the same key share a serialized frame. */
  key: string;
}

export class RpcWatchers {
  readonly #events: EventHub;
  readonly #log: Logger;
  readonly #watching = new Map<net.Socket, Watch>();
  /** Connections whose end already unsubscribes them (one listener each, however often they subscribe). */
  readonly #heard = new WeakSet<net.Socket>();
  /** How many watchers want each job, and how many want every job: what the hub is asked to note. */
  readonly #perJob = new Map<string, number>();
  #everyJob = 0;
  #unsubscribe: (() => void) | null = null;

  constructor(events: EventHub, log: Logger) {
    this.#events = events;
    this.#log = log;
  }

  /** `events.subscribe` on `sock`: replaces a watch it had. Unknown job ids are refused (JOB_NOT_FOUND) and change nothing. */
  subscribe(sock: net.Socket, params: SubscribeParams): SubscribeResult {
    const ids = params.job_ids ?? null;
    // Read first: an unknown id throws before anything is registered.
    const openRuns = this.#events.openRunEvents(ids);
    this.unsubscribe(sock);
    // A connection already gone would hold its place, and the hub's subscription, for ever.
    if (sock.destroyed) return { open_runs: openRuns };
    const jobs = ids ? new Set(ids.map((id) => id.toLowerCase())) : null;
    const watch: Watch = { jobs, key: jobs ? [...jobs].sort().join(',') : '*' };
    this.#watching.set(sock, watch);
    if (jobs) for (const id of jobs) this.#perJob.set(id, (this.#perJob.get(id) ?? 0) + 1);
    else this.#everyJob += 1;
    this.#unsubscribe ??= this.#events.subscribe((events) => this.#fanOut(events), { runs: 'all', jobs: (id) => this.#everyJob > 0 || this.#perJob.has(id) });
    if (!this.#heard.has(sock)) {
      this.#heard.add(sock);
      sock.once('close', () => this.unsubscribe(sock));
    }
    return { open_runs: openRuns };
  }

  /** `events.unsubscribe`, or the connection ended. */
  unsubscribe(sock: net.Socket): void {
    const watch = this.#watching.get(sock);
    if (!watch) return;
    this.#watching.delete(sock);
    if (watch.jobs) {
      for (const id of watch.jobs) {
        const n = (this.#perJob.get(id) ?? 1) - 1;
        if (n > 0) this.#perJob.set(id, n);
        else this.#perJob.delete(id);
      }
    } else this.#everyJob -= 1;
    if (this.#watching.size === 0) {
      this.#unsubscribe?.();
      this.#unsubscribe = null;
    }
  }

  get count(): number {
    return this.#watching.size;
  }

  #fanOut(events: DaemonEvent[]): void {
    const frames = new Map<string, Frame[]>();
    for (const [sock, watch] of this.#watching) {
      let mine = frames.get(watch.key);
      if (!mine) {
        mine = notifications(watch.jobs ? events.filter((e) => watch.jobs!.has(e.job_id)) : events);
        frames.set(watch.key, mine);
      }
      if (mine.length === 0) continue;
      if (sock.writableLength > MAX_BACKLOG_BYTES) {
        this.#log.warn({ unsentBytes: sock.writableLength }, 'a watcher stopped reading its events; its connection is closed');
        sock.destroy();
        continue;
      }
      for (const frame of mine) writeFrame(sock, frame);
    }
  }
}

/** The `job.events` notifications of a batch: frames of at most about NOTIFICATION_BYTES of events each, in order. */
export function notifications(events: DaemonEvent[]): Frame[] {
  const frames: Frame[] = [];
  let batch: string[] = [];
  let bytes = 0;
  const close = () => {
    if (batch.length === 0) return;
    // The same frame as encodeFrame({jsonrpc, method, params: {events}}) would make, from events serialized once each.
    const text = `{"jsonrpc":"2.0","method":${JSON.stringify(EVENTS_NOTIFICATION)},"params":{"events":[${batch.join(',')}]}}`;
    frames.push({ text, bytes: Buffer.byteLength(text) });
    batch = [];
    bytes = 0;
  };
  for (const event of events) {
    const json = JSON.stringify(event);
    if (bytes + json.length > NOTIFICATION_BYTES) close();
    batch.push(json);
    bytes += json.length;
  }
  close();
  return frames;
}
