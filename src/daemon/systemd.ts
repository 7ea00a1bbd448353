/**
 * systemd socket activation (sd_listen_fds(3)): systemd passes listening sockets from fd 3
 * on, with LISTEN_PID naming the process they are meant for and LISTEN_FDS their count.
 * Returns the fd to serve on, or null when we were not socket-activated. The variables
 * are removed, as sd_listen_fds(unset_environment=1) does, so no child takes them for its own.
 */
const SD_LISTEN_FDS_START = 3;

export function inheritedSocketFd(env: NodeJS.ProcessEnv = process.env, pid = process.pid): number | null {
  const forUs = env.LISTEN_PID === String(pid) && Number(env.LISTEN_FDS) >= 1;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  return forUs ? SD_LISTEN_FDS_START : null;
}
