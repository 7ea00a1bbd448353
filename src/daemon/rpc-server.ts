import { Ajv, type ValidateFunction } from 'ajv';
import {
  createJSONRPCErrorResponse,
  JSONRPCErrorException,
  JSONRPCServer,
  type JSONRPCErrorResponse,
  type JSONRPCID,
  type JSONRPCRequest,
  type JSONRPCResponse,
} from 'json-rpc-2.0';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { DaemonAlreadyRunningError, ERROR_CODES, TimerError } from '../core/errors.ts';
import { ensurePrivateDir } from '../fs/private.ts';
import type { Logger } from '../log/logger.ts';
import { isAnswering } from '../contract/client.ts';
import { encodeFrame, frameTooLargeMessage, onLines, writeFrame, type Frame } from '../contract/framing.ts';
import { MAX_FRAME_BYTES, PARAM_SCHEMAS, RPC_ERROR_CODES, type MethodName, type Methods, type SubscribeParams } from '../contract/protocol.ts';
import type { EventHub } from './events/hub.ts';
import { RpcWatchers } from './rpc-watchers.ts';

/** Methods about the connection itself, answered by the server (rpc-watchers.ts), not the route table. */
type ConnectionMethodName = 'events.subscribe' | 'events.unsubscribe';

/** What answers each method: the route table (rpc-routes.ts). */
export type Handlers = {
  [M in Exclude<MethodName, ConnectionMethodName>]: (params: Methods[M]['params']) => Methods[M]['result'] | Promise<Methods[M]['result']>;
};

/** JSON-RPC code for each stable error code; anything else is a generic server error. */
function rpcCodeFor(code: string): number {
  if (code === ERROR_CODES.INVALID_INPUT) return RPC_ERROR_CODES.INVALID_INPUT;
  if (code === ERROR_CODES.JOB_NOT_FOUND) return RPC_ERROR_CODES.JOB_NOT_FOUND;
  return -32000;
}

/**
 * The answer to a method that threw: a TimerError's message with its stable code in
 * `data.code`; anything unexpected is logged and answered with a bare "internal error",
 * never its text (which could leak internals).
 */
function errorResponse(id: JSONRPCID, err: unknown, log: Logger): JSONRPCErrorResponse {
  if (err instanceof JSONRPCErrorException) return createJSONRPCErrorResponse(id, err.code, err.message, err.data);
  if (err instanceof TimerError) return createJSONRPCErrorResponse(id, rpcCodeFor(err.code), err.message, { code: err.code });
  log.error({ err }, 'rpc method failed');
  // The database refusing a write (disk full, locked, read-only) is the user's to fix,
  // so say so; SQLite's message names the condition and nothing secret.
  const sqliteCode = (err as { code?: unknown }).code;
  if (typeof sqliteCode === 'string' && /^SQLITE_(FULL|IOERR|BUSY|LOCKED|READONLY|CANTOPEN)/.test(sqliteCode)) {
    const message = `the database refused the change (${(err as Error).message}): free disk space or check the database file, then retry`;
    return createJSONRPCErrorResponse(id, -32000, message, { code: ERROR_CODES.STORE_FAILED });
  }
  return createJSONRPCErrorResponse(id, RPC_ERROR_CODES.INTERNAL, 'internal error; see the daemon log', { code: ERROR_CODES.INTERNAL });
}

/** The connection a request came on: json-rpc-2.0's `serverParams`, handed to every method. */
type Caller = net.Socket;

/** `handler`, behind a check of its params against the method's schema (contract/protocol.ts PARAM_SCHEMAS). */
function checkedParams(
  method: MethodName,
  validate: ValidateFunction,
  handler: (params: unknown, caller: Caller) => unknown,
): (params: unknown, caller: Caller) => unknown {
  return (params, caller) => {
    const p = params ?? {};
    if (!validate(p)) {
      const e = validate.errors?.[0];
      const where = e?.instancePath ? `params${e.instancePath.replace(/\//g, '.')}` : 'params';
      throw new JSONRPCErrorException(`invalid params for ${method}: ${where} ${e?.message ?? 'is invalid'}`, RPC_ERROR_CODES.INVALID_INPUT, {
        code: ERROR_CODES.INVALID_INPUT,
      });
    }
    return handler(p, caller);
  };
}

/**
 * The transport: JSON-RPC 2.0 over a Unix socket, newline-delimited frames. Parameters are
 * checked against the protocol's JSON Schemas before a handler runs; a TimerError becomes a
 * JSON-RPC error with its stable code in `data.code`; anything unexpected is logged and
 * answered with a bare "internal error" (errorResponse).
 */
export class RpcServer {
  readonly #rpc: JSONRPCServer<Caller>;
  readonly #log: Logger;
  readonly #clients = new Set<net.Socket>();
  #server: net.Server | undefined;
  #socketPath: string | undefined;

  /** `events` feeds the watchers (events.subscribe); without it (tests of the transport alone) nobody can watch. */
  constructor(handlers: Handlers, log: Logger, events?: EventHub) {
    this.#log = log;
    this.#rpc = new JSONRPCServer<Caller>({ errorListener: (message, data) => log.debug({ data }, message) });
    this.#rpc.mapErrorToJSONRPCErrorResponse = (id, err: unknown) => errorResponse(id, err, log);
    const watchers = events && new RpcWatchers(events, log);
    const connectionMethods: Record<ConnectionMethodName, (params: unknown, caller: Caller) => unknown> = {
      'events.subscribe': (params, caller) => {
        if (!watchers) throw new TimerError(ERROR_CODES.INTERNAL, 'this daemon has no events to watch');
        return watchers.subscribe(caller, params as SubscribeParams);
      },
      'events.unsubscribe': (_params, caller) => {
        watchers?.unsubscribe(caller);
        return { subscribed: false };
      },
    };
    const all: Record<string, (params: unknown, caller: Caller) => unknown> = {
      ...(handlers as Record<string, (params: unknown) => unknown>),
      ...connectionMethods,
    };
    const ajv = new Ajv({ allErrors: false, strict: true });
    for (const method of Object.keys(all) as MethodName[]) {
      this.#rpc.addMethod(method, checkedParams(method, ajv.compile(PARAM_SCHEMAS[method]), all[method]!));
    }
  }

  /**
   * Listen on `socketPath` inside a private directory (created 0700 if missing; an existing
   * one is checked and refused if another user could reach into it, never chmod-ed: it may
   * not be ours), the socket itself 0600. A socket file left by a killed daemon (connect
   * refused) is replaced; a live one means another daemon owns this state, and we refuse
   * to start.
   */
  async listen(socketPath: string): Promise<void> {
    ensurePrivateDir(path.dirname(socketPath), 'socket directory');
    if (await isAnswering(socketPath)) throw new DaemonAlreadyRunningError(`it answers on ${socketPath}`);
    fs.rmSync(socketPath, { force: true });
    // Created 0600 from the start (umask), not chmod-ed after: no window where others can
    // connect. Binding a Unix socket happens synchronously inside listen().
    const oldMask = process.umask(0o177);
    try {
      await this.#listen(socketPath);
    } finally {
      process.umask(oldMask);
    }
    fs.chmodSync(socketPath, 0o600);
    this.#socketPath = socketPath;
  }

  /**
   * Serve on a listening socket inherited from systemd (socket activation). The socket file
   * belongs to systemd: it made it with the unit's SocketMode, and we never remove it.
   */
  async listenOnFd(fd: number): Promise<void> {
    await this.#listen({ fd });
    // No token guards the RPC: only the Unix socket's mode keeps other users out. A socket
    // unit whose ListenStream= lines were swapped would hand over the REST API's TCP port here.
    const addr = this.#server?.address();
    if (addr && typeof addr === 'object') {
      await this.close();
      throw new TimerError(
        ERROR_CODES.CONFIG_INVALID,
        `the socket systemd passed as fd ${fd} is TCP (${addr.address} port ${addr.port}), not the daemon's Unix socket: the socket unit must list the Unix socket's ListenStream= first, as globus-timer daemon install writes it`,
      );
    }
  }

  async #listen(target: string | { fd: number }): Promise<void> {
    const server = net.createServer((sock) => this.#serve(sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(target, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.#log.error({ err }, 'rpc server error'));
    this.#server = server;
  }

  /** Stop accepting, drop clients, remove the socket file. */
  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const sock of this.#clients) sock.destroy();
    await closed;
    if (this.#socketPath) fs.rmSync(this.#socketPath, { force: true });
  }

  /**
   * json-rpc-2.0 throws on a batch holding a non-object member (`[null]`, `[1]`), which
   * would leave the whole batch unanswered: such members get their Invalid Request reply
   * here and the others go through as usual.
   */
  async #dispatch(line: string, caller: Caller): Promise<unknown> {
    if (line.trimStart().startsWith('[')) {
      let batch: unknown;
      try {
        batch = JSON.parse(line);
      } catch {
        batch = undefined; // receiveJSON answers the parse error
      }
      if (Array.isArray(batch) && batch.some((m) => typeof m !== 'object' || m === null || Array.isArray(m))) {
        const requests = batch.filter((m): m is JSONRPCRequest => typeof m === 'object' && m !== null && !Array.isArray(m));
        const answered = requests.length ? ((await this.#rpc.receive(requests, caller)) ?? []) : [];
        const invalid = batch.filter((m) => !requests.includes(m as JSONRPCRequest)).map(() => createJSONRPCErrorResponse(null, -32600, 'Invalid Request'));
        return [...(Array.isArray(answered) ? answered : [answered]), ...invalid];
      }
    }
    return this.#rpc.receiveJSON(line, caller);
  }

  /**
   * The reply as a frame. One over MAX_FRAME_BYTES is never sent (the client could not read
   * it): each request gets an error naming the size and the limit instead. Pages are sized
   * to fit (MAX_PAGE_BYTES); a job document whose newest runs carry huge provider status
   * documents may not.
   */
  #replyFrame(response: JSONRPCResponse | JSONRPCResponse[]): Frame {
    const frame = encodeFrame(response);
    if (frame.bytes <= MAX_FRAME_BYTES) return frame;
    this.#log.warn({ bytes: frame.bytes, limit: MAX_FRAME_BYTES }, 'reply too large to send; answered with an error');
    const message = frameTooLargeMessage('the reply', { bytes: frame.bytes, complete: true });
    const refuse = (r: JSONRPCResponse) => createJSONRPCErrorResponse(r.id, -32000, message, { code: ERROR_CODES.RPC_FAILED });
    return encodeFrame(Array.isArray(response) ? response.map(refuse) : refuse(response));
  }

  #serve(sock: net.Socket): void {
    this.#clients.add(sock);
    sock.on('close', () => this.#clients.delete(sock));
    sock.on('error', () => sock.destroy());
    // Requests still being answered, and whether the connection is to end once they are:
    // after an oversized frame the replies to the valid requests before it still go out.
    let pending = 0;
    let endAfterReplies: (() => void) | null = null;
    const replied = () => {
      pending -= 1;
      if (pending === 0) endAfterReplies?.();
    };
    onLines(
      sock,
      (line) => {
        pending += 1;
        this.#dispatch(line, sock)
          .then((response) => {
            if (response) writeFrame(sock, this.#replyFrame(response as JSONRPCResponse | JSONRPCResponse[]));
          })
          .catch((err: unknown) => {
            // Whatever broke, the client gets an answer rather than silence.
            this.#log.error({ err }, 'rpc dispatch failed');
            writeFrame(sock, encodeFrame(createJSONRPCErrorResponse(null, -32603, 'internal error')));
          })
          .finally(replied);
      },
      (frame) => {
        // Its id was never read, hence null: the client learns which request it was by
        // having only one on the way (the CLI), or from the connection closing after it.
        endAfterReplies = () => {
          writeFrame(sock, encodeFrame(createJSONRPCErrorResponse(null, -32600, frameTooLargeMessage('the request', frame))));
          sock.end();
        };
        if (pending === 0) endAfterReplies();
      },
    );
  }
}
