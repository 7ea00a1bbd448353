import type { Command } from '../../context.ts';
import { copyCommand } from './copy.ts';
import { deleteCommand } from './delete.ts';
import { historyCommand } from './history.ts';
import { listCommand } from './list.ts';
import { nextCommand } from './next.ts';
import { pauseCommand } from './pause.ts';
import { purgeCommand } from './purge.ts';
import { resumeCommand } from './resume.ts';
import { runCommand } from './run.ts';
import { statusCommand } from './status.ts';
import { submitCommand } from './submit.ts';
import { transferCommand } from './transfer.ts';
import { updateCommand } from './update.ts';
import { watchCommand } from './watch.ts';

/** `globus-timer job …`, in the order `job --help` lists them. */
export const jobCommands: Command[] = [
  submitCommand,
  transferCommand,
  listCommand,
  statusCommand,
  deleteCommand,
  resumeCommand,
  pauseCommand,
  runCommand,
  watchCommand,
  historyCommand,
  updateCommand,
  nextCommand,
  copyCommand,
  purgeCommand,
];
