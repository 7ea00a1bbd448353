import assert from 'node:assert/strict';
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
