/**
 * The daemon's events on the CLI's connection (issue 16): `events.subscribe`, then each
 * `job.events` notification as it comes. Nothing is polled: the CLI waits on the socket.
 */
import type { RpcClient } from '../../contract/client.ts';
import { EVENTS_NOTIFICATION } from '../../contract/events.ts';
import type { DaemonEvent, EventsNotification, RunEvent } from '../../contract/protocol.ts';
import { ERROR_CODES, TimerError } from '../../core/errors.ts';

export class EventStream {
  readonly #queue: DaemonEvent[][] = [];
  #waiting: (() => void) | null = null;
  #ended: string | null = null;

  private constructor(client: RpcClient) {
    client.onNotification(EVENTS_NOTIFICATION, (params) => {
      const events = (params as EventsNotification | undefined)?.events;
      if (!Array.isArray(events)) return;
      this.#queue.push(events);
      this.#wake();
    });
    client.onEnd((reason) => {
      this.#ended = reason;
      this.#wake();
    });
  }

  /** Subscribe to these jobs' events (null: every job's); returns the stream and the runs open as it began. */
  static async open(client: RpcClient, jobIds: string[] | null): Promise<{ stream: EventStream; openRuns: RunEvent[] }> {
    const stream = new EventStream(client);
    // An older daemon has no events.subscribe: the client words that as "restart the daemon".
    const { open_runs } = await client.call('events.subscribe', jobIds === null ? {} : { job_ids: jobIds });
    return { stream, openRuns: open_runs };
  }

  /** The next batch of events; rejects once the connection is over (the daemon stopped). */
  async next(): Promise<DaemonEvent[]> {
    for (;;) {
      const batch = this.#queue.shift();
      if (batch) return batch;
      if (this.#ended !== null) throw new TimerError(ERROR_CODES.RPC_FAILED, `the watch ended: ${this.#ended}`);
      await new Promise<void>((resolve) => (this.#waiting = resolve));
    }
  }

  #wake(): void {
    const wake = this.#waiting;
    this.#waiting = null;
    wake?.();
  }
}
