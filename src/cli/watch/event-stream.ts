/**
 * The daemon's events on the CLI's connection (issue 16): `events.subscribe`, then each
 * `job.events` notification as it comes. Nothing is polled: the CLI waits on the socket.
 */
import type { RpcClient } from '../../contract/client.ts';
import { EVENTS_NOTIFICATION } from '../../contract/events.ts';
import type { DaemonEvent, EventsNotification, RunEvent } from '../../contract/protocol.ts';
import { ERROR_CODES, RpcError, TimerError } from '../../core/errors.ts';

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
    try {
      const { open_runs } = await client.call('events.subscribe', jobIds === null ? {} : { job_ids: jobIds });
      return { stream, openRuns: open_runs };
    } catch (err) {
      if (err instanceof RpcError && err.rpcCode === -32601) {
        throw new TimerError(
          ERROR_CODES.PROTOCOL_MISMATCH,
          'the running daemon is older than this CLI and cannot be watched; restart it: globus-timer daemon stop && globus-timer daemon start',
        );
      }
      throw err;
    }
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
