import assert from 'node:assert/strict';
import { JsonChunks } from '../../src/daemon/api/types.ts';
import { runCliProcess } from './env.ts';

/** The real CLI as a subprocess, for steps that must succeed: its stdout, or a failed assertion naming the command. */
export function cliThatSucceeds(env: NodeJS.ProcessEnv): (...args: string[]) => Promise<string> {
  return async (...args) => {
    const r = await runCliProcess(args, env);
    assert.equal(r.code, 0, `globus-timer ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    return r.stdout;
  };
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
