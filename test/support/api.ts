import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { API_ADDR_ENV } from '../../src/core/api-addr.ts';
import { JsonChunks } from '../../src/daemon/api/types.ts';
import { FAST_POLLING, runCliProcess, startDaemonProcess, tempHome, type DaemonProcess } from './env.ts';
import { startFakeProvider } from './provider.ts';

/** The real CLI as a subprocess, for steps that must succeed: its stdout, or a failed assertion naming the command. */
export function cliThatSucceeds(env: NodeJS.ProcessEnv): (...args: string[]) => Promise<string> {
  return async (...args) => {
    const r = await runCliProcess(args, env);
    assert.equal(r.code, 0, `globus-timer ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    return r.stdout;
  };
}

/**
 * `job submit` through the real CLI: a job without a scope calling `actionUrl`, daily from a
 * start far ahead (so it runs only when told) unless `interval` and `start` say otherwise,
 * with `flags` added. Returns its id.
 */
export async function submitJob(
  cli: (...args: string[]) => Promise<string>,
  name: string,
  actionUrl: string,
  { interval = '1d', start = '2099-01-01T00:00:00Z', flags = [] as string[] } = {},
): Promise<string> {
  const args = ['job', 'submit', '--name', name, '--interval', interval, '--start', start, '--no-scope', '--action-url', actionUrl];
  const out = await cli(...args, '--action-body', '{"body": {}}', '--format', 'json', ...flags);
  return (JSON.parse(out) as { job_id: string }).job_id;
}

/** A running daemon's REST API, as a user finds it: `globus-timer api url` and `api token`. */
export async function apiAccess(cli: (...args: string[]) => Promise<string>): Promise<{ url: string; token: string }> {
  const { url } = JSON.parse(await cli('api', 'url', '--format', 'json')) as { url: string };
  const { token } = JSON.parse(await cli('api', 'token', '--format', 'json')) as { token: string };
  return { url, token };
}

/** The pieces of a streamed answer (`GET /jobs/`), in order. */
export async function piecesOf(body: JsonChunks): Promise<string[]> {
  const pieces: string[] = [];
  for await (const piece of body.pieces) pieces.push(piece);
  return pieces;
}

/** A route's answer body as the client gets it: a streamed one joined and parsed. */
export async function bodyOf(body: unknown): Promise<unknown> {
  return body instanceof JsonChunks ? JSON.parse((await piecesOf(body)).join('')) : body;
}

/**
 * A real daemon serving the REST API on 127.0.0.1:0 in a temp home, and a fake Action Provider
 * whose runs succeed at once: what the API's end-to-end tests drive. The daemon is stopped
 * before its home is removed (after-hooks run in the order they were added).
 */
export async function startApiDaemon(t: TestContext) {
  const ap = await startFakeProvider();
  t.after(() => ap.close());
  ap.defaultRunReply = { kind: 'accept', httpStatus: 200, final: 'SUCCEEDED' };
  let daemon: DaemonProcess | undefined;
  t.after(() => daemon?.stop());
  const { env: base, paths } = tempHome(t);
  const env = { ...base, ...FAST_POLLING, [API_ADDR_ENV]: '127.0.0.1:0', GLOBUS_TIMER_NO_AUTOSTART: '1' };
  daemon = await startDaemonProcess(t, env);
  const cli = cliThatSucceeds(env);
  return { ap, env, paths, cli, ...(await apiAccess(cli)) };
}
