import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { ALLOW_HTTP_TOKENS_ENV, tokenRulesFromEnv, type TokenRules } from '../../src/auth/token-rules.ts';
import { resolveConfig, type ResolvedConfig } from '../../src/config/config.ts';
import { resolvePaths, type AppPaths } from '../../src/config/paths.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');

/**
 * A fresh GLOBUS_TIMER_HOME for one test, removed afterwards. Short (under the temp dir,
 * `gt-` prefix) because a Unix socket path must stay under 108 bytes.
 */
export function tempHome(t: TestContext): { home: string; paths: AppPaths; env: NodeJS.ProcessEnv } {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-'));
  t.after(() => fs.rmSync(home, { recursive: true, force: true }));
  // The test providers are loopback http servers: Globus tokens may go to them (token-rules.ts).
  const env = { ...process.env, GLOBUS_TIMER_HOME: home, GLOBUS_TIMER_LOG_LEVEL: 'debug', [ALLOW_HTTP_TOKENS_ENV]: '1' };
  return { home, paths: resolvePaths(env), env };
}

/** Token rules for in-process tests: the test providers are loopback http servers. */
/** A daemon that polls and retries its providers every few tens of milliseconds, so runs end within a test's patience. */
export const FAST_POLLING = { GLOBUS_TIMER_POLL_INITIAL_MS: '50', GLOBUS_TIMER_POLL_MAX_MS: '200', GLOBUS_TIMER_RETRY_INITIAL_MS: '50' } as const;

/**
 * The environment of a daemon and CLI that talk to a fake Globus: Auth at `authUrl`, the
 * Transfer Action Provider at `transferRunUrl`, fast polling, and no autostart (the test
 * starts the daemon itself).
 */
export function fakeGlobusEnv(base: NodeJS.ProcessEnv, { authUrl, transferRunUrl }: { authUrl: string; transferRunUrl: string }): NodeJS.ProcessEnv {
  return {
    ...base,
    GLOBUS_SDK_SERVICE_URL_AUTH: authUrl,
    GLOBUS_TIMER_TRANSFER_ACTION_URL: transferRunUrl,
    GLOBUS_TIMER_NO_AUTOSTART: '1',
    ...FAST_POLLING,
  };
}

export const TEST_TOKEN_RULES: TokenRules = tokenRulesFromEnv({ [ALLOW_HTTP_TOKENS_ENV]: '1' });

/** Config for in-process tests: fast polls and retries. */
export function testConfig(overrides: Partial<ResolvedConfig> = {}): ResolvedConfig {
  return resolveConfig({}, { pollInitialMs: 20, pollMaxMs: 100, retryInitialMs: 20, retryMaxMs: 100, shutdownGraceMs: 500, ...overrides });
}

export interface DaemonProcess {
  proc: ChildProcess;
  /** Everything the daemon wrote to stderr (its pino JSON log). */
  log(): string;
  /** Parsed log lines. */
  logLines(): Record<string, unknown>[];
  /** Send a signal and resolve with the exit code (or signal name). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/** Start `globus-timer daemon run` as a real process; resolves once it listens. */
export async function startDaemonProcess(t: TestContext, env: NodeJS.ProcessEnv): Promise<DaemonProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), 'daemon', 'run'], {
    env,
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr.setEncoding('utf8');
  const exited = new Promise<number | string>((resolve) => proc.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`daemon did not start:\n${stderr}`)), 20_000);
    proc.stderr.on('data', (chunk: string) => {
      stderr += chunk;
      if (stderr.includes('"daemon listening"')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited (${code}) before listening:\n${stderr}`));
    });
  });
  const handle: DaemonProcess = {
    proc,
    log: () => stderr,
    logLines: () =>
      stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
  t.after(() => handle.stop('SIGKILL'));
  return handle;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Run the real CLI (bin/globus-timer.js) as a subprocess. `answer` plays the user at stdin:
 * it sees stdout so far and returns the line to type once it is ready (then stdin closes).
 */
export function runCliProcess(args: string[], env: NodeJS.ProcessEnv, answer?: (stdoutSoFar: string) => string | undefined): Promise<CliResult> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [path.join(ROOT, 'bin/globus-timer.js'), ...args], {
      env,
      cwd: ROOT,
      stdio: [answer ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let answered = false;
    proc.stdout!.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      const line = answer && !answered ? answer(stdout) : undefined;
      if (line !== undefined) {
        answered = true;
        proc.stdin?.end(line + '\n');
      }
    });
    proc.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    proc.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A loopback TCP port nothing listens on now (bound to port 0, then closed). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
