/**
 * Real run requests and status documents are a few levels deep. JSON nested thousands deep
 * parses fine but overflows the stack of JSON.stringify when it is stored or sent, so such
 * input is refused (action bodies) or treated as unreadable (provider responses) up front.
 */
export const MAX_JSON_DEPTH = 100;

/** Whether objects/arrays nest deeper than `limit`. Iterative, so any depth is safe to check. */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [v, depth] = item;
    if (typeof v !== 'object' || v === null) continue;
    if (depth > limit) return true;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}
