import type { ServiceUnitInput } from '../../src/install/units.ts';

/** The inputs of the example units in systemd/ (what `daemon install` writes for a typical user, where user namespaces work). */
export const EXAMPLE_UNIT_INPUT: ServiceUnitInput = {
  nodePath: '/usr/bin/node',
  cliPath: '/opt/globus-timer/bin/globus-timer.js',
  socketPath: '/run/user/1000/globus-timer/daemon.sock',
  runtimeDir: '/run/user/1000',
  logDir: '/home/user/.local/state/globus-timer',
  writableDirs: ['/home/user/.local/share/globus-timer', '/home/user/.local/state/globus-timer', '/run/user/1000/globus-timer', '/home/user/.config/globus'],
  userNamespaces: true,
};
