import fs from 'node:fs';
import { InvalidInputError } from '../core/errors.ts';
import { parseActionBody } from '../core/input.ts';
import { readFlagFile } from './options.ts';

export interface ActionBodyFlags {
  'action-body'?: string | undefined;
  'action-file'?: string | undefined;
}

/**
 * The action body from `--action-body JSON` or `--action-file PATH` (job submit, job
 * update); undefined when neither was given. Both at once is refused (yargs `conflicts`
 * says so too, but the rule belongs to the flags, not to how they were parsed).
 */
export function actionBodyFromFlags(
  flags: ActionBodyFlags,
  readFile: (path: string) => string = (p) => fs.readFileSync(p, 'utf8'),
): Record<string, unknown> | undefined {
  const file = flags['action-file'];
  const body = flags['action-body'];
  if (body !== undefined && file !== undefined) throw new InvalidInputError('give either --action-body or --action-file, not both');
  if (file !== undefined) return parseActionBody(readFlagFile('action-file', file, readFile), '--action-file');
  return body === undefined ? undefined : parseActionBody(body);
}
