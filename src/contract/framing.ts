import type net from 'node:net';
import { sizeWithBytes } from '../util/byte-size.ts';
import { MAX_FRAME_BYTES } from './protocol.ts';

/** A frame over the limit, dropped unread. */
export interface OversizedFrame {
  /** Its size in bytes, or (`complete` false) how much of it came before it was refused. */
  bytes: number;
  /** Whether its end had come: `bytes` is then its whole size. */
  complete: boolean;
}

/**
 * Newline-delimited JSON frames over a stream socket, shared by server and client. Sizes
 * are UTF-8 bytes, the newline not counted. A line longer than `maxBytes` is refused as
 * soon as it passes the limit, never buffered further or waited for: `onOversize` is
 * called once and reading stops, whatever a peer sends after it.
 */
export function onLines(sock: net.Socket, onLine: (line: string) => void, onOversize: (frame: OversizedFrame) => void, maxBytes = MAX_FRAME_BYTES): void {
  let parts: Buffer[] = [];
  let lineBytes = 0;
  let stopped = false;
  sock.on('data', (chunk: Buffer) => {
    for (let from = 0; !stopped && from < chunk.length; ) {
      const newline = chunk.indexOf(0x0a, from);
      const part = chunk.subarray(from, newline === -1 ? chunk.length : newline);
      lineBytes += part.length;
      if (lineBytes > maxBytes) {
        stopped = true;
        parts = [];
        return onOversize({ bytes: lineBytes, complete: newline !== -1 });
      }
      parts.push(part);
      if (newline === -1) return;
      // Decoded whole: a character split between chunks is joined again.
      const line = Buffer.concat(parts, lineBytes).toString('utf8');
      parts = [];
      lineBytes = 0;
      if (line.trim()) onLine(line);
      from = newline + 1;
    }
  });
}

/** A message as one frame: its JSON and the size that counts against MAX_FRAME_BYTES. */
export interface Frame {
  text: string;
  bytes: number;
}

export function encodeFrame(message: unknown): Frame {
  const text = JSON.stringify(message);
  return { text, bytes: Buffer.byteLength(text) };
}

export function writeFrame(sock: net.Socket, frame: Frame): void {
  if (!sock.destroyed && sock.writable) sock.write(frame.text + '\n');
}

/**
 * What a frame over the limit is told: `what` (`the request`, `the reply to job.get`) with
 * its size and the limit, e.g. "the request is 5.0 MiB (5,242,880 bytes), over the limit of
 * 4 MiB (4,194,304 bytes) for one message between the CLI and the daemon".
 */
export function frameTooLargeMessage(what: string, frame: OversizedFrame, maxBytes = MAX_FRAME_BYTES): string {
  const size = `${frame.complete ? '' : 'more than '}${sizeWithBytes(frame.bytes)}`;
  return `${what} is ${size}, over the limit of ${sizeWithBytes(maxBytes)} for one message between the CLI and the daemon`;
}
