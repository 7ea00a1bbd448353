import { createJSONRPCErrorResponse, JSONRPCClient, JSONRPCErrorException, type JSONRPCRequest } from 'json-rpc-2.0';
import net from 'node:net';
import { DaemonNotRunningError, ERROR_CODES, RpcError, TimerError, type ErrorCode } from '../core/errors.ts';
import { checkDaemonSocket } from '../fs/private.ts';
import { encodeFrame, frameTooLargeMessage, onLines, writeFrame } from './framing.ts';
import { VERSION } from '../util/package-root.ts';
import { MAX_FRAME_BYTES, PROTOCOL_VERSION, RPC_ERROR_CODES, type HelloResult, type JobMethodName, type MethodName, type Methods } from './protocol.ts';

const KNOWN_CODES = new Set<string>(Object.values(ERROR_CODES));

/**
 * What the job commands call: the local daemon (RpcClient) or a Timers REST API
 * (remote/timers-client.ts), with the same methods, parameters and results.
 */
export interface JobsClient {
  call<M extends JobMethodName>(method: M, params: Methods[M]['params']): Promise<Methods[M]['result']>;
}

/** A connection to the daemon; every call is typed by the protocol's `Methods`. */
export class RpcClient {
  readonly #sock: net.Socket;
  readonly #rpc: JSONRPCClient;
  readonly #timeoutMs: number;
  /** Why the connection is over (closed, an unreadable or oversized reply): later calls fail with it at once. */
  #endedBecause: string | null = null;
  /** Who hears each notification method (`job.events` for a watcher), and who hears the connection end. */
  readonly #notified = new Map<string, (params: unknown) => void>();
  #onEnd: ((reason: string) => void) | null = null;
  /** What the daemon said about itself when we connected. */
  daemon: HelloResult = { protocol_version: PROTOCOL_VERSION, version: VERSION, pid: 0 };

  private constructor(sock: net.Socket, timeoutMs: number) {
    this.#sock = sock;
    this.#timeoutMs = timeoutMs;
    this.#rpc = new JSONRPCClient((request: JSONRPCRequest) => this.#send(request));
    onLines(
      sock,
      (line) => this.#receive(line),
      (frame) => this.#end(frameTooLargeMessage("the daemon's reply", frame)),
    );
    sock.on('close', () => this.#end('the daemon closed the connection'));
  }

  /**
   * A request over the frame limit is not sent (the daemon would refuse it): it is answered
   * here, as the daemon answers bad input, with its size and the limit (exit 2).
   */
  #send(request: JSONRPCRequest): void {
    const frame = encodeFrame(request);
    if (frame.bytes <= MAX_FRAME_BYTES) {
      writeFrame(this.#sock, frame);
      return;
    }
    const message = frameTooLargeMessage(`the request (${request.method})`, { bytes: frame.bytes, complete: true });
    this.#rpc.receive(createJSONRPCErrorResponse(request.id ?? null, RPC_ERROR_CODES.INVALID_INPUT, message, { code: ERROR_CODES.INVALID_INPUT }));
  }

  #receive(line: string): void {
    let reply: unknown;
    try {
      reply = JSON.parse(line);
    } catch {
      this.#end('the daemon sent an unreadable reply');
      return;
    }
    // An error the daemon could not tie to a request (its frame too large to read, or
    // unreadable): it ends the connection, and the calls on the way learn why.
    const orphan = reply as { id?: unknown; error?: { message?: unknown }; method?: unknown; params?: unknown } | null;
    if (orphan?.id === null && typeof orphan.error?.message === 'string') this.#end(orphan.error.message);
    else if (typeof orphan?.method === 'string' && orphan.id === undefined) this.#notified.get(orphan.method)?.(orphan.params);
    else this.#rpc.receive(reply as Parameters<JSONRPCClient['receive']>[0]);
  }

  #end(reason: string): void {
    if (this.#endedBecause === null) this.#onEnd?.(reason);
    this.#endedBecause ??= reason;
    this.#rpc.rejectAllPendingRequests(reason);
    this.#sock.destroy();
  }

  /**
   * Connect and exchange versions (`daemon.hello`). Fails with DaemonNotRunningError when
   * nothing answers on the socket, and with PROTOCOL_MISMATCH when the daemon speaks
   * another protocol version (an older daemon that has no `daemon.hello` counts too).
   * A socket or socket directory another user could have made is refused before anything
   * is sent (UNSAFE_PATH): what we send may be a job with its URLs and bodies.
   */
  static async connect(socketPath: string, { timeoutMs = 30_000 } = {}): Promise<RpcClient> {
    checkDaemonSocket(socketPath);
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(socketPath);
      s.once('connect', () => {
        s.removeAllListeners('error');
        s.on('error', () => s.destroy());
        resolve(s);
      });
      s.once('error', (err) => reject(new DaemonNotRunningError(socketPath, { cause: err })));
    });
    const client = new RpcClient(sock, timeoutMs);
    try {
      const hello = await client.call('daemon.hello', { protocol_version: PROTOCOL_VERSION, version: VERSION });
      client.daemon = hello;
      if (hello.protocol_version !== PROTOCOL_VERSION) throw mismatch(`globus-timer ${hello.version}, protocol ${hello.protocol_version}`);
    } catch (err) {
      client.close();
      if (err instanceof RpcError && err.rpcCode === -32601) throw mismatch('an older globus-timer without a version handshake');
      throw err;
    }
    return client;
  }

  async call<M extends MethodName>(method: M, params: Methods[M]['params']): Promise<Methods[M]['result']> {
    if (this.#endedBecause !== null) throw new TimerError(ERROR_CODES.RPC_FAILED, `daemon call ${method} failed: ${this.#endedBecause}`);
    try {
      return (await this.#rpc.timeout(this.#timeoutMs).request(method, params)) as Methods[M]['result'];
    } catch (err) {
      if (err instanceof JSONRPCErrorException) {
        // A method this CLI knows and the daemon does not: the daemon is older (methods are added
        // without a protocol bump). The one wording of it, for every such method.
        if (err.code === -32601) throw new RpcError(ERROR_CODES.PROTOCOL_MISMATCH, err.code, olderDaemon(method));
        const data = err.data as { code?: unknown } | undefined;
        const code = typeof data?.code === 'string' && KNOWN_CODES.has(data.code) ? (data.code as ErrorCode) : ERROR_CODES.RPC_FAILED;
        throw new RpcError(code, err.code, err.message);
      }
      throw new TimerError(ERROR_CODES.RPC_FAILED, `daemon call ${method} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Hear the daemon's notifications of `method` (one listener per method; the last one set). */
  onNotification(method: string, listener: (params: unknown) => void): void {
    this.#notified.set(method, listener);
  }

  /** Hear the connection end, with why (the daemon stopped, or dropped a watcher that did not read). */
  onEnd(listener: (reason: string) => void): void {
    this.#onEnd = listener;
  }

  close(): void {
    this.#onEnd = null;
    this.#sock.end();
    this.#sock.destroy();
  }
}

function olderDaemon(method: string): string {
  return `the running daemon is older than this CLI and has no ${method}; restart it: globus-timer daemon stop && globus-timer daemon start`;
}

function mismatch(daemon: string): TimerError {
  return new TimerError(
    ERROR_CODES.PROTOCOL_MISMATCH,
    `the running daemon is ${daemon}, but this CLI is globus-timer ${VERSION}, protocol ${PROTOCOL_VERSION}; restart the daemon: globus-timer daemon stop && globus-timer daemon start`,
  );
}

/** Whether something accepts connections on `socketPath` (a live daemon). */
export function isAnswering(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(socketPath);
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}
