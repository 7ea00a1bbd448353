import fs from 'node:fs';
import type { Argv, CommandModule } from 'yargs';
import { InvalidInputError } from '../../../core/errors.ts';
import {
  RECURSIVE_SYMLINKS,
  buildTransferBody,
  parseItemsCsv,
  parseSyncLevel,
  transferActionUrl,
  transferItem,
  transferScopeFor,
  type RecursiveSymlinks,
  type TransferItem,
} from '../../../core/transfer.ts';
import type { SubmitJobParams } from '../../../contract/protocol.ts';
import type { GlobalArgs } from '../../context.ts';
import { readFlagFile, single, verbose } from '../../options.ts';
import { scheduleOptions, scheduleParamsFromFlags, type ScheduleFlags } from '../../schedule-flags.ts';

/** The flags of `job transfer` as yargs hands them over (option names as typed). */
export interface TransferFlags extends ScheduleFlags {
  'source-endpoint': string;
  'dest-endpoint': string;
  /**
   * Every `--item/-i SRC DST RECURSIVE`, flattened: yargs collects 3 values per use, an
   * array (its types, which know nothing of `nargs`, say one string).
   */
  item?: string | string[] | undefined;
  'items-file'?: string | undefined;
  label?: string | undefined;
  'sync-level'?: string | undefined;
  'encrypt-data'?: boolean | undefined;
  'verify-checksum'?: boolean | undefined;
  'preserve-timestamp'?: boolean | undefined;
  'skip-source-errors'?: boolean | undefined;
  'fail-on-quota-errors'?: boolean | undefined;
  'recursive-symlinks'?: RecursiveSymlinks | undefined;
  'data-access'?: string[] | undefined;
}

export type ReadTextFile = (path: string) => string;

const readUtf8: ReadTextFile = (path) => fs.readFileSync(path, 'utf8');

function itemsFromFlags(flags: TransferFlags, readFile: ReadTextFile): TransferItem[] {
  const items: TransferItem[] = [];
  const values = [flags.item ?? []].flat();
  // yargs' `nargs: 3` already refuses a use with fewer than 3 values; this guards direct callers.
  if (values.length % 3 !== 0) throw new InvalidInputError('--item takes exactly 3 values: SRC DST RECURSIVE');
  for (let i = 0; i < values.length; i += 3) {
    items.push(transferItem(String(values[i]), String(values[i + 1]), String(values[i + 2]), `--item ${i / 3 + 1}`));
  }
  const file = flags['items-file'];
  if (file !== undefined) {
    items.push(...parseItemsCsv(readFlagFile('items-file', file, readFile), file));
  }
  return items;
}

/**
 * Turn `job transfer` flags into canonical RPC parameters; every rule is checked here, so a
 * bad flag exits 2 before the daemon is asked. The schedule flags mean exactly what they
 * mean for `job submit` (schedule-flags.ts).
 */
export function transferParamsFromFlags(flags: TransferFlags, env: NodeJS.ProcessEnv, readFile: ReadTextFile = readUtf8): SubmitJobParams {
  if (!flags.item?.length && flags['items-file'] === undefined) {
    throw new InvalidInputError('Must provide at least one of the following options: --item/-i, --items-file');
  }
  const callbackBody = buildTransferBody({
    name: flags.name,
    sourceEndpoint: flags['source-endpoint'],
    destinationEndpoint: flags['dest-endpoint'],
    items: itemsFromFlags(flags, readFile),
    label: flags.label,
    syncLevel: flags['sync-level'] !== undefined ? parseSyncLevel(flags['sync-level']) : undefined,
    encryptData: flags['encrypt-data'],
    verifyChecksum: flags['verify-checksum'],
    preserveTimestamp: flags['preserve-timestamp'],
    skipSourceErrors: flags['skip-source-errors'],
    failOnQuotaErrors: flags['fail-on-quota-errors'],
    recursiveSymlinks: flags['recursive-symlinks'],
  });
  return {
    ...scheduleParamsFromFlags(flags),
    callback_url: transferActionUrl(env),
    callback_body: callbackBody,
    scope: transferScopeFor(flags['data-access'] ?? []),
  };
}

const TRANSFER_FLAGS = [
  ['encrypt-data', 'Encrypt the data channel'],
  ['verify-checksum', 'Verify checksums after each file is transferred'],
  ['preserve-timestamp', 'Give destination files the modification times of the source files'],
  ['skip-source-errors', 'Skip source paths that cannot be read instead of failing the task'],
  ['fail-on-quota-errors', 'Fail the task when the destination is over quota, instead of retrying'],
] as const;

interface TransferArgs extends GlobalArgs, TransferFlags {
  verbose: boolean;
}

function transferOptions(b: Argv<GlobalArgs>): Argv<TransferArgs> {
  let y = scheduleOptions(b)
    .option('source-endpoint', { ...single('source-endpoint'), type: 'string', demandOption: true, describe: 'UUID of the source collection' })
    .option('dest-endpoint', { ...single('dest-endpoint'), type: 'string', demandOption: true, describe: 'UUID of the destination collection' })
    .option('item', {
      alias: 'i',
      type: 'string',
      nargs: 3,
      describe: 'An item to transfer: SRC DST RECURSIVE (RECURSIVE: yes/no, true/false, 1/0 ...); repeat for more',
    })
    .option('items-file', {
      ...single('items-file'),
      type: 'string',
      describe: 'CSV of items: source_path,destination_path,recursive per line; # starts a comment',
    })
    .option('label', { ...single('label'), type: 'string', describe: 'Label of each transfer task (default: "Job from Timer service named <name>")' })
    .option('sync-level', {
      ...single('sync-level'),
      type: 'string',
      describe: 'Copy only files that: 0 do not exist, 1 differ in size, 2 are newer, 3 differ in checksum (or exists|size|mtime|checksum)',
    })
    .option('recursive-symlinks', { ...single('recursive-symlinks'), choices: RECURSIVE_SYMLINKS, describe: 'Symlinks met in recursive items' });
  for (const [flag, describe] of TRANSFER_FLAGS) y = y.option(flag, { type: 'boolean', default: false, describe });
  return y
    .option('data-access', { type: 'string', array: true, describe: 'UUID of a mapped collection that needs data_access consent; repeat for more' })
    .option('verbose', verbose);
}

/** `job transfer --name … --interval|--cron … --source-endpoint … --dest-endpoint … --item …`: a job for Globus Transfer. */
export const transferCommand: CommandModule<GlobalArgs, TransferArgs> = {
  command: 'transfer',
  describe: 'Submit a job that runs a Globus Transfer on a schedule',
  builder: transferOptions,
  handler: async (args) => {
    const params = transferParamsFromFlags(args, args.io.env);
    const { submitJob } = await import('../../submit.ts'); // on demand, as in job submit
    await submitJob(args, params);
  },
};
