import type { Argv } from 'yargs';
import { withDaemon, type CliIo, type GlobalArgs } from '../context.ts';
import { formatRecord, toJson } from '../output.ts';

export function daemonCommands(io: CliIo, setExitCode: (code: number) => void) {
  return (y: Argv<GlobalArgs>) =>
    y
      .command(
        'run',
        'Run the daemon in the foreground (what a systemd unit or `npm start` calls)',
        (b) => b,
        async () => {
          // Loaded only here: the rest of the CLI never opens the database.
          const { runDaemon } = await import('../../daemon/main.ts');
          setExitCode(await runDaemon());
        },
      )
      .command(
        'status',
        'Show whether the daemon runs, with its paths and job counts',
        (b) => b,
        async (args) => {
          const status = await withDaemon(io, (c) => c.call('daemon.status', {}));
          if (args.format === 'json') return io.out(toJson(status));
          io.out(
            formatRecord([
              ['Status', 'running'],
              ['PID', status.pid],
              ['Version', status.version],
              ['Started', status.started_at],
              ['Uptime', `${status.uptime_seconds}s`],
              ['Database', status.db_file],
              ['Socket', status.socket_path],
              ['Jobs', Object.entries(status.jobs).map(([k, n]) => `${n} ${k}`).join(', ')],
              ['Runs In Flight', status.runs_in_flight],
            ]),
          );
        },
      )
      .demandCommand(1, 'name a daemon command: run or status');
}
