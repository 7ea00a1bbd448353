/**
 * A real daemon (startDaemon: socket, SQLite file, scheduler, runner) in this process, on a
 * FakeClock the test moves, driven through the real CLI as a subprocess against a real
 * loopback Action Provider. Time is the test's: slots come when it advances the clock.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import type { ResolvedConfig } from '../../src/config/config.ts';
import { resolvePaths, type AppPaths } from '../../src/config/paths.ts';
import { startDaemon, type Daemon } from '../../src/daemon/daemon.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { FakeClock } from './clock.ts';
import { runCliProcess, TEST_TOKEN_RULES, testConfig, type CliResult } from './env.ts';
import { startFakeProvider, type FakeProvider } from './provider.ts';

export interface ClockedDaemon {
  daemon: Daemon;
  clock: FakeClock;
  provider: FakeProvider;
  paths: AppPaths;
  env: NodeJS.ProcessEnv;
  home: string;
  /** Run the real CLI (bin/globus-timer.js) against this daemon. */
  cli(args: string[]): Promise<CliResult>;
  /** `job submit` through the CLI with --no-scope and the provider's URL; returns the job id. */
  submit(flags: Record<string, string>): Promise<string>;
  /** Stop the daemon and start a new one on the same home and clock (a restart). */
  restart(): Promise<void>;
}

/**
 * Config: no fire lead (a run is claimed at its slot, so nothing waits on a fake-clock
 * sleep before it is sent) and a 1-s misfire grace (a slot missed for longer counts as
 * missed under --misfire skip).
 */
export function clockedConfig(over: Partial<ResolvedConfig> = {}): ResolvedConfig {
  return testConfig({ fireLeadMs: 0, misfireGraceMs: 1_000, ...over });
}

export async function clockedDaemon(
  t: TestContext,
  {
    startMs = Date.parse('2026-03-02T08:00:00Z'),
    config = clockedConfig(),
    home: givenHome,
  }: { startMs?: number; config?: ResolvedConfig; home?: string } = {},
): Promise<ClockedDaemon> {
  // Short: a Unix socket path must stay under 108 bytes.
  const home = givenHome ?? fs.mkdtempSync(path.join(os.tmpdir(), 'gt-'));
  const env: NodeJS.ProcessEnv = { ...process.env, GLOBUS_TIMER_HOME: home, GLOBUS_TIMER_NO_AUTOSTART: '1' };
  delete env.GLOBUS_TIMER_LOG_LEVEL;
  const paths = resolvePaths(env);
  const clock = new FakeClock(startMs);
  const provider = await startFakeProvider();
  const start = () => startDaemon({ paths, config, log: silentLogger(), clock, tokenRules: TEST_TOKEN_RULES });
  const h: ClockedDaemon = {
    daemon: await start(),
    clock,
    provider,
    paths,
    env,
    home,
    cli: (args) => runCliProcess(args, env),
    async submit(flags) {
      const args = ['job', 'submit', '--action-url', provider.runUrl, '--action-body', '{"body": {"n": 1}}', '--no-scope', '--format', 'json'];
      for (const [flag, value] of Object.entries({ '--name': 'job', '--interval': '10', ...flags })) args.push(flag, value);
      const r = await h.cli(args);
      if (r.code !== 0) throw new Error(`job submit failed (${r.code}): ${r.stderr}`);
      return (JSON.parse(r.stdout) as { job_id: string }).job_id;
    },
    async restart() {
      await h.daemon.stop();
      h.daemon = await start();
    },
  };
  t.after(async () => {
    await h.daemon.stop();
    await provider.close();
    if (!givenHome) fs.rmSync(home, { recursive: true, force: true });
  });
  return h;
}

/**
 * Move the fake clock in `stepMs` steps, letting real I/O (the provider's HTTP answers, the
 * runner's polls) happen in between, until `check` holds. Fails after `maxSteps`.
 */
export async function advanceUntil<T>(
  clock: FakeClock,
  what: string,
  check: () => T | undefined | null | false,
  { stepMs = 100, maxSteps = 200 } = {},
): Promise<T> {
  for (let i = 0; i < maxSteps; i++) {
    const v = check();
    if (v) return v;
    clock.advance(stepMs);
    await new Promise((r) => setTimeout(r, 5));
  }
  const v = check();
  if (v) return v;
  throw new Error(`timed out waiting for ${what}`);
}

/** Wait (real time, briefly) until `check` holds: for answers already on their way. */
export async function waitFor<T>(what: string, check: () => T | undefined | null | false, timeoutMs = 5_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
