import type { Command } from '../../context.ts';
import { installCommand } from './install.ts';
import { logsCommand } from './logs.ts';
import { runCommand } from './run.ts';
import { startCommand } from './start.ts';
import { statusCommand } from './status.ts';
import { stopCommand } from './stop.ts';
import { uninstallCommand } from './uninstall.ts';

/** `globus-timer daemon …`, in the order `daemon --help` lists them. */
export const daemonCommands: Command[] = [runCommand, startCommand, stopCommand, statusCommand, logsCommand, installCommand, uninstallCommand];
