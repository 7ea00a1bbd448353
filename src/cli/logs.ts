import fs from 'node:fs';
import path from 'node:path';
import { prettyFactory } from 'pino-pretty';
import { checkPrivateDir, openPrivateFile, readPrivateFile } from '../fs/private.ts';
import { LOG_FILE_BASE } from '../log/logger.ts';
import { printable } from '../util/printable.ts';
import { mapJson } from '../util/json-map.ts';

/** The daemon's rotated log files, oldest first (`daemon.1.log`, `daemon.2.log`, …). */
function logFiles(logDir: string): string[] {
  // Refused (UNSAFE_PATH) if another user could have put files there; missing: no logs.
  if (!checkPrivateDir(logDir, 'log directory')) return [];
  let names: string[];
  try {
    names = fs.readdirSync(logDir);
  } catch {
    return [];
  }
  const numbered = names
    .map((name) => ({ name, n: Number(new RegExp(`^${LOG_FILE_BASE}\\.(\\d+)\\.log$`).exec(name)?.[1]) }))
    .filter((f) => Number.isInteger(f.n))
    .sort((a, b) => a.n - b.n);
  return numbered.map((f) => path.join(logDir, f.name));
}

/** The last `n` lines across the rotated files. */
export function tailLines(logDir: string, n: number): string[] {
  const lines: string[] = [];
  if (n <= 0) return lines;
  for (const file of logFiles(logDir).reverse()) {
    const own = (readPrivateFile(file, 'log file') ?? '').split('\n').filter((l) => l.trim());
    lines.unshift(...own.slice(-(n - lines.length)));
    if (lines.length >= n) break;
  }
  return lines.slice(-n);
}

/**
 * pino JSON lines made readable (time, level, message, fields); other lines are printed as
 * they are. Either way made printable first (util/printable.ts): a log entry quotes providers'
 * messages, and the only escape sequences printed are pino-pretty's own colours.
 */
export function lineFormatter(colorize: boolean): (line: string) => string {
  const pretty = prettyFactory({ colorize, translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l', ignore: 'pid,hostname' });
  return (line) => {
    const entry = line.startsWith('{') ? parseOrNull(line) : null;
    if (entry === null || typeof entry !== 'object') return printable(line);
    return pretty(mapJson(entry, { key: (k) => printable(k), string: (s) => printable(s, { keepNewlines: true }) }) as object).trimEnd();
  };
}

function parseOrNull(line: string): unknown {
  try {
    return JSON.parse(line) as unknown;
  } catch {
    return null;
  }
}

/**
 * Print what is appended to the newest log file, following rotation, until `signal`
 * aborts. Polls every 250 ms: simple, and the same on every platform.
 */
export async function follow(logDir: string, print: (line: string) => void, signal: AbortSignal): Promise<void> {
  let file = logFiles(logDir).at(-1);
  let offset = file ? fs.statSync(file).size : 0;
  let partial = '';
  while (!signal.aborted) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const newest = logFiles(logDir).at(-1);
    for (const f of file && newest !== file ? [file, newest] : [newest]) {
      if (!f) continue;
      if (f !== file) {
        file = f;
        offset = 0;
      }
      const size = fs.statSync(f).size;
      if (size <= offset) continue;
      const opened = openPrivateFile(f, 'log file', { create: 'never', access: 'read' });
      if (!opened) continue;
      const buf = Buffer.alloc(size - offset);
      try {
        fs.readSync(opened.fd, buf, 0, buf.length, offset);
      } finally {
        fs.closeSync(opened.fd);
      }
      offset = size;
      const lines = (partial + buf.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) print(line);
    }
  }
}
