import type { Command } from '../../context.ts';
import { loginCommand } from './login.ts';
import { logoutCommand } from './logout.ts';
import { revokeCommand } from './revoke.ts';
import { whoamiCommand } from './whoami.ts';

/** `globus-timer session …` (login, whoami, logout, revoke), with the original CLI's messages and exit codes. */
export const sessionCommands: Command[] = [loginCommand, whoamiCommand, logoutCommand, revokeCommand];
