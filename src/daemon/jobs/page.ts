import { jsonBytes } from '../../util/byte-size.ts';
import { MAX_PAGE_BYTES } from '../../contract/protocol.ts';

export interface FilledPage<S, T> {
  items: T[];
  /** The source of the last item taken: where the next page's cursor points. */
  last: S | undefined;
  /** Sources were left over: there is a next page. */
  more: boolean;
}

/**
 * One page of a reply (job.list, job.history), bounded by count and by size so that it
 * always fits a frame (contract/protocol.ts MAX_PAGE_BYTES): items are taken in order while the
 * page has fewer than `maxItems` and its JSON stays within `maxBytes`. The first item is
 * taken whatever its size, so that paging always moves on. `maxBytes` Infinity: by count only.
 */
export function fillPage<S, T>(sources: Iterable<S>, toItem: (source: S) => T, maxItems: number, maxBytes = MAX_PAGE_BYTES): FilledPage<S, T> {
  const items: T[] = [];
  let last: S | undefined;
  let pageBytes = 0;
  for (const source of sources) {
    if (items.length >= maxItems) return { items, last, more: true };
    const item = toItem(source);
    // and the comma before the next; not measured at all when there is no bound (JSON.stringify of every item is dear)
    const itemBytes = Number.isFinite(maxBytes) ? jsonBytes(item) + 1 : 0;
    if (items.length > 0 && pageBytes + itemBytes > maxBytes) return { items, last, more: true };
    items.push(item);
    pageBytes += itemBytes;
    last = source;
  }
  return { items, last, more: false };
}
