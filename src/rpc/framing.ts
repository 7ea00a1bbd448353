import type net from 'node:net';
import { MAX_FRAME_BYTES } from './protocol.ts';

/**
 * Newline-delimited JSON frames over a stream socket, shared by server and client.
 * A line longer than `maxBytes` calls `onOversize` and stops reading: the buffer never
 * grows without bound, whatever a peer sends.
 */
export function onLines(
  sock: net.Socket,
  onLine: (line: string) => void,
  onOversize: () => void,
  maxBytes = MAX_FRAME_BYTES,
): void {
  let buf = '';
  sock.setEncoding('utf8');
  sock.on('data', (chunk: string) => {
    buf += chunk;
    for (let i = buf.indexOf('\n'); i !== -1; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.trim()) onLine(line);
    }
    if (buf.length > maxBytes) {
      buf = '';
      sock.removeAllListeners('data');
      onOversize();
    }
  });
}

export function writeFrame(sock: net.Socket, message: unknown): void {
  if (!sock.destroyed && sock.writable) sock.write(JSON.stringify(message) + '\n');
}
