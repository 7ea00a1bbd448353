/**
 * Preloaded into the daemon process by `--probe` (`node --import ./bench/probe.ts ...`):
 * measures the daemon's event loop without touching src/. The first SIGUSR2 starts the
 * measurement window (resets the delay histogram and the utilisation baseline), the second
 * writes {event_loop_delay_ms, event_loop_utilization} to $BENCH_PROBE_OUT.
 * The histogram samples every 10 ms (Node's default), so it shows stalls more than fine jitter.
 */
import fs from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

const out = process.env.BENCH_PROBE_OUT;
if (out) {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  let baseline = performance.eventLoopUtilization();
  let phase = 0;
  process.on('SIGUSR2', () => {
    if (phase === 0) {
      h.reset();
      baseline = performance.eventLoopUtilization();
      phase = 1;
      return;
    }
    // The histogram holds whole timer intervals: subtract the 10 ms resolution to get the delay.
    const ms = (ns: number) => Math.max(0, Math.round((ns / 1e6 - 10) * 100) / 100);
    const elu = performance.eventLoopUtilization(baseline);
    fs.writeFileSync(
      out,
      JSON.stringify({
        event_loop_delay_ms: { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max), mean: ms(h.mean) },
        event_loop_utilization: Math.round(elu.utilization * 1000) / 1000,
      }),
    );
  });
}
