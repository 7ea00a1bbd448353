import type { Agent } from 'undici';

const turn = () => new Promise((resolve) => setImmediate(resolve));

/**
 * Before a "nothing else was sent, nothing changed" check on a Runner given `agent`: resolves
 * once every request the runner has started is answered and what it did with the answers is
 * written. Waiting a fixed time instead proves little on a loaded machine.
 *
 * - One turn of the event loop first: a request the runner starts from a promise chain (a
 *   best-effort release after a run ends) is handed to the agent by then.
 * - Then until the agent has no request pending or running (undici counts a request from the
 *   moment it is dispatched): the provider records a request before it answers, so every
 *   request sent is in its records.
 * - One more turn: the runner's bookkeeping after an answer goes through its write-behind
 *   queue, flushed on the turn after it was queued (setImmediate).
 */
export async function requestsSettled(agent: Agent, timeoutMs = 5_000): Promise<void> {
  await turn();
  const busy = () => Object.values(agent.stats).some((origin) => origin.size > 0);
  for (const deadline = Date.now() + timeoutMs; busy(); ) {
    if (Date.now() > deadline) throw new Error(`requests still in flight after ${timeoutMs} ms: ${JSON.stringify(agent.stats)}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await turn();
}
