import type { Command } from '../../context.ts';
import { tokenCommand } from './token.ts';
import { urlCommand } from './url.ts';

/** `globus-timer api …`, in the order `api --help` lists them. */
export const apiCommands: Command[] = [urlCommand, tokenCommand];
