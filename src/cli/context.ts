import { resolvePaths } from '../config/paths.ts';
import { RpcClient } from '../rpc/client.ts';

/** What a command needs from the outside world; tests pass their own. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
}

export const processIo: CliIo = {
  out: (text) => process.stdout.write(text + '\n'),
  err: (text) => process.stderr.write(text + '\n'),
  env: process.env,
};

export type OutputFormat = 'text' | 'json';

/** Options every command has. */
export interface GlobalArgs {
  format: OutputFormat;
}

/** Connect to the daemon named by the environment's paths, run `fn`, always close. */
export async function withDaemon<T>(io: CliIo, fn: (client: RpcClient) => Promise<T>): Promise<T> {
  const client = await RpcClient.connect(resolvePaths(io.env).socketPath);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}
