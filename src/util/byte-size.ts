/**
 * Sizes in messages about limits. Binary units throughout (a limit of `1 MiB` and a size of
 * `1.0 MiB` are then comparable), with the exact byte count beside: one decimal alone cannot
 * show that 1,048,577 bytes is over a 1 MiB limit.
 */

const UNITS = [
  ['GiB', 2 ** 30],
  ['MiB', 2 ** 20],
  ['KiB', 2 ** 10],
] as const;

/** `3.1 MiB (3,250,000 bytes)`, `1 MiB (1,048,576 bytes)`, `512 bytes`. */
export function sizeWithBytes(bytes: number): string {
  const exact = `${bytes.toLocaleString('en-US')} bytes`;
  for (const [unit, unitBytes] of UNITS) {
    if (bytes < unitBytes) continue;
    const value = bytes / unitBytes;
    return `${Number.isInteger(value) ? value : value.toFixed(1)} ${unit} (${exact})`;
  }
  return exact;
}

/**
 * `512 B`, `1.2 GiB`: a size at a glance (progress of a transfer, the store in `daemon
 * status`), binary units as `du -h` and Transfer's web app show them.
 */
export function shortSize(bytes: number): string {
  let n = bytes;
  let unit = 0;
  while (n >= 1024 && unit < SHORT_UNITS.length - 1) {
    n /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${n} B` : `${n.toFixed(1)} ${SHORT_UNITS[unit]}`;
}

const SHORT_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/** Size of a value as JSON on the wire and in the database: UTF-8 bytes of JSON.stringify. */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}
