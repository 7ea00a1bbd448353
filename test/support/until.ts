/**
 * Ask `check` until it returns a value (not undefined, null or false), `everyMs` apart: a
 * wait for something that should happen (a run to finish, a job to go inactive), never a
 * fixed sleep. Fails naming `what` after `timeoutMs`.
 */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined | null | false>,
  { timeoutMs = 20_000, everyMs = 50 }: { timeoutMs?: number; everyMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
