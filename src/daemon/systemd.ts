/**
 * systemd socket activation (sd_listen_fds(3)): systemd passes listening sockets from fd 3
 * on, in the order of the socket unit's ListenStream= lines, with LISTEN_PID naming the
 * process they are meant for and LISTEN_FDS their count. `daemon install` lists the Unix
 * socket first and, with `--api`, the REST API's loopback port second (install/units.ts).
 * Returns the fds to serve on, or null when we were not socket-activated. The variables
 * are removed, as sd_listen_fds(unset_environment=1) does, so no child takes them for its own.
 */
const SD_LISTEN_FDS_START = 3;

export interface InheritedSockets {
  /** The Unix socket of the CLI's JSON-RPC: fd 3. */
  rpc: number;
  /** The REST API's TCP socket: fd 4, when systemd passed two or more; else null. */
  api: number | null;
}

export function inheritedSockets(env: NodeJS.ProcessEnv = process.env, pid = process.pid): InheritedSockets | null {
  const count = env.LISTEN_PID === String(pid) ? Number(env.LISTEN_FDS) : 0;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (!(count >= 1)) return null;
  return { rpc: SD_LISTEN_FDS_START, api: count >= 2 ? SD_LISTEN_FDS_START + 1 : null };
}
