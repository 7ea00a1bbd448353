/**
 * The dashboard's web side on the API's thread (issue 16 item 3): its pages and files, and
 * its live stream of events (Server-Sent Events at `/events`). The door (api/server.ts with
 * api/door.ts) has let the request in before anything here runs; the data the pages show
 * comes from the JSON routes (api/routes.ts and api/dashboard-routes.ts).
 *
 * Events: the main thread forwards the hub's batches only while a stream is open (it is
 * told the count, `onClients`), so a daemon nobody looks at pays nothing. Each batch is
 * serialized once and written to every stream.
 */
import fs from 'node:fs';
import type http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DaemonEvent } from '../../contract/protocol.ts';
import { COMMON_HEADERS } from './server.ts';
import type { WebHandler } from './types.ts';

/** Open event streams at most: a dashboard has one per tab; more is a leak or an attack (503). */
export const MAX_EVENT_STREAMS = 16;
/** A comment line this often keeps proxies and the browser from thinking the stream dead, and finds gone clients. */
const HEARTBEAT_MS = 15_000;
/** Events written to a stream and not yet taken by its client, at most. */
const MAX_UNREAD_BYTES = 1 << 20;

/**
 * The dashboard's own files: src/dashboard from the source (tsx), dist/cli/dashboard from the
 * bundle (scripts/build-cli.mjs copies them there), so the installed package has them too.
 */
const DASHBOARD_DIR = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../../dashboard/' : './dashboard/', import.meta.url));

/** uPlot, from node_modules wherever it is installed (a checkout, or beside an installed globus-timer). */
const requireHere = createRequire(import.meta.url);

interface StaticFile {
  file: () => string;
  type: string;
}

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';
const HTML = 'text/html; charset=utf-8';

const FILES: Readonly<Record<string, StaticFile>> = {
  '/static/app.js': { file: () => path.join(DASHBOARD_DIR, 'app.js'), type: JS },
  '/static/timeline.js': { file: () => path.join(DASHBOARD_DIR, 'timeline.js'), type: JS },
  '/static/app.css': { file: () => path.join(DASHBOARD_DIR, 'app.css'), type: CSS },
  '/static/uPlot.js': { file: () => requireHere.resolve('uplot/dist/uPlot.iife.min.js'), type: JS },
  '/static/uPlot.css': { file: () => requireHere.resolve('uplot/dist/uPlot.min.css'), type: CSS },
};

const INDEX: StaticFile = { file: () => path.join(DASHBOARD_DIR, 'index.html'), type: HTML };

/** The page's paths: the jobs page, and one job's page (`/job/<uuid>`); the page tells them apart. */
const JOB_PAGE = /^\/job\/[0-9a-f-]{36}$/i;

export interface Dashboard extends WebHandler {
  /** A batch of the hub's events, from the main thread: written to every open stream. */
  broadcast(events: DaemonEvent[]): void;
  close(): void;
}

export interface DashboardOptions {
  /** The number of open streams changed: the main thread listens to the hub while it is > 0. */
  onClients: (count: number) => void;
  heartbeatMs?: number;
}

export function dashboard({ onClients, heartbeatMs = HEARTBEAT_MS }: DashboardOptions): Dashboard {
  const streams = new Set<http.ServerResponse>();
  // Files read once: they do not change under a running daemon.
  const cache = new Map<string, Buffer>();
  const read = (f: StaticFile): Buffer | null => {
    const file = f.file();
    let body = cache.get(file);
    if (!body) {
      try {
        body = fs.readFileSync(file);
      } catch {
        return null;
      }
      cache.set(file, body);
    }
    return body;
  };
  const heartbeat = setInterval(() => {
    for (const res of streams) res.write(': heartbeat\n\n');
  }, heartbeatMs);
  heartbeat.unref();

  function serveFile(res: http.ServerResponse, f: StaticFile): void {
    const body = read(f);
    res.writeHead(body ? 200 : 500, { ...COMMON_HEADERS, 'Content-Type': body ? f.type : 'text/plain; charset=utf-8' });
    res.end(body ?? 'the dashboard files are missing from this installation; reinstall globus-timer');
  }

  function openStream(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (streams.size >= MAX_EVENT_STREAMS) {
      res.writeHead(503, { ...COMMON_HEADERS, 'Content-Type': 'application/json', 'Retry-After': '10', Connection: 'close' });
      res.end(JSON.stringify({ detail: `Service Unavailable: ${MAX_EVENT_STREAMS} event streams are open already; close a dashboard tab` }));
      return;
    }
    // A stream is idle between events for as long as nothing happens: only the heartbeat and 'close' end it.
    req.socket.setTimeout(0);
    res.writeHead(200, { ...COMMON_HEADERS, 'Content-Type': 'text/event-stream', Connection: 'keep-alive' });
    // Reconnect after 2 s if the daemon restarts.
    res.write('retry: 2000\n: open\n\n');
    streams.add(res);
    onClients(streams.size);
    res.on('close', () => {
      if (streams.delete(res)) onClients(streams.size);
    });
  }

  return {
    handle(req, res, urlPath) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return false;
      if (urlPath === '/' || JOB_PAGE.test(urlPath)) {
        serveFile(res, INDEX);
        return true;
      }
      if (urlPath === '/events' && req.method === 'GET') {
        openStream(req, res);
        return true;
      }
      const f = Object.hasOwn(FILES, urlPath) ? FILES[urlPath] : undefined;
      if (!f) return false;
      serveFile(res, f);
      return true;
    },
    broadcast(events) {
      if (streams.size === 0) return;
      const frame = `data: ${JSON.stringify(events)}\n\n`;
      for (const res of streams) {
        // A tab that does not read (asleep, stuck) is cut off rather than buffered for: it reconnects and reloads.
        if (res.writableLength > MAX_UNREAD_BYTES) res.destroy();
        else res.write(frame);
      }
    },
    revoke() {
      for (const res of streams) res.destroy();
    },
    close() {
      clearInterval(heartbeat);
      for (const res of streams) res.destroy();
    },
  };
}
