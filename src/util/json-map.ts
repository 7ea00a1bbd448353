/**
 * A copy of a parsed JSON value with its object keys and its strings mapped, everything
 * else as it is: what redacting a provider's answer, making a log entry printable and
 * snake-casing a document's keys each need. Depth is the caller's to bound (parsed answers
 * are cut at MAX_JSON_DEPTH by sendRequest; our own documents are shallow).
 */
export function mapJson(value: unknown, map: { key?: (key: string) => string; string?: (text: string) => string }): unknown {
  if (typeof value === 'string') return map.string ? map.string(value) : value;
  if (Array.isArray(value)) return value.map((v) => mapJson(v, map));
  if (typeof value !== 'object' || value === null) return value;
  // fromEntries defines each key as an own property: a `__proto__` key stays a key.
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [map.key ? map.key(k) : k, mapJson(v, map)]));
}
