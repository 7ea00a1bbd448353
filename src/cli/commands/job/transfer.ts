import fs from 'node:fs';
import type { Argv, CommandModule } from 'yargs';
import { InvalidInputError } from '../../../core/errors.ts';
import {
  RECURSIVE_SYMLINKS,
  buildTransferBody,
  filterRules,
  parseDeadline,
  parseItemsCsv,
  parseSyncLevel,
  transferActionUrl,
  transferItem,
  transferScopeFor,
  withChecksum,
  type RecursiveSymlinks,
  type TransferItem,
} from '../../../core/transfer.ts';
import type { SubmitJobParams } from '../../../contract/protocol.ts';
import type { GlobalArgs } from '../../context.ts';
import { serviceChoice } from '../../../remote/service.ts';
import { readFlagFile, single, verbose } from '../../options.ts';
import { scheduleOptions, scheduleParamsFromFlags, type ScheduleFlags } from '../../schedule-flags.ts';
import { onFailureFromFlags, onFailureOptions, type OnFailureFlags } from '../../on-failure-flags.ts';

/** The flags of `job transfer` as yargs hands them over (option names as typed). */
export interface TransferFlags extends ScheduleFlags, OnFailureFlags {
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
  'delete-destination-extra'?: boolean | undefined;
  /** Repeatable; one use is a string (not `array: true`, which would swallow the words after it). */
  include?: string | string[] | undefined;
  exclude?: string | string[] | undefined;
  'source-local-user'?: string | undefined;
  'destination-local-user'?: string | undefined;
  'external-checksum'?: string | undefined;
  'checksum-algorithm'?: string | undefined;
  deadline?: string | undefined;
  'notify-on-succeeded'?: boolean | undefined;
  'notify-on-failed'?: boolean | undefined;
  'notify-on-inactive'?: boolean | undefined;
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
  return withChecksum(items, flags['external-checksum'], flags['checksum-algorithm']);
}

/**
 * Turn `job transfer` flags into canonical RPC parameters; every rule is checked here, so a
 * bad flag exits 2 before the daemon is asked. The schedule flags mean exactly what they
 * mean for `job submit` (schedule-flags.ts).
 */
export function transferParamsFromFlags(
  flags: TransferFlags,
  env: NodeJS.ProcessEnv,
  readFile: ReadTextFile = readUtf8,
  nowMs: number = Date.now(),
): SubmitJobParams {
  if (!flags.item?.length && flags['items-file'] === undefined) {
    throw new InvalidInputError('Must provide at least one of the following options: --item/-i, --items-file');
  }
  const schedule = scheduleParamsFromFlags(flags, nowMs);
  const startAtMs = typeof schedule.start === 'string' ? Date.parse(schedule.start) : null;
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
    deleteDestinationExtra: flags['delete-destination-extra'],
    filterRules: filterRules([flags.include ?? []].flat(), [flags.exclude ?? []].flat()),
    sourceLocalUser: flags['source-local-user'],
    destinationLocalUser: flags['destination-local-user'],
    deadline: flags.deadline !== undefined ? parseDeadline(flags.deadline, nowMs, startAtMs) : undefined,
    notifyOnSucceeded: flags['notify-on-succeeded'],
    notifyOnFailed: flags['notify-on-failed'],
    notifyOnInactive: flags['notify-on-inactive'],
  });
  return {
    ...schedule,
    callback_url: transferActionUrl(env),
    callback_body: callbackBody,
    scope: transferScopeFor(flags['data-access'] ?? []),
    ...onFailureFromFlags(flags),
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
  let y = onFailureOptions(scheduleOptions(b))
    .option('source-endpoint', { ...single('source-endpoint'), type: 'string', demandOption: true, describe: 'UUID of the source collection' })
    .option('dest-endpoint', { ...single('dest-endpoint'), type: 'string', demandOption: true, describe: 'UUID of the destination collection' })
    .option('item', {
      alias: 'i',
      type: 'string',
      nargs: 3,
      describe:
        'An item to transfer: SRC DST RECURSIVE (RECURSIVE: yes/no, true/false, 1/0 ..., or auto to let Transfer tell files from directories); repeat for more',
    })
    .option('items-file', {
      ...single('items-file'),
      type: 'string',
      describe: 'CSV of items: source_path,destination_path,recursive[,external_checksum[,checksum_algorithm]] per line; # starts a comment',
    })
    .option('label', { ...single('label'), type: 'string', describe: 'Label of each transfer task (default: "Job from Timer service named <name>")' })
    .option('sync-level', {
      ...single('sync-level'),
      type: 'string',
      describe: 'Copy only files that: 0 do not exist, 1 differ in size, 2 are newer, 3 differ in checksum (or exists|size|mtime|checksum)',
    })
    .option('recursive-symlinks', {
      ...single('recursive-symlinks'),
      choices: RECURSIVE_SYMLINKS,
      describe: "Symlinks met in recursive items (sent only if the provider's input schema lists it)",
    });
  for (const [flag, describe] of TRANSFER_FLAGS) y = y.option(flag, { type: 'boolean', default: false, describe });
  // No defaults below: a flag not given sends no key, and Transfer applies its own default.
  return y
    .option('delete-destination-extra', { type: 'boolean', describe: 'Delete destination files that are not in the source (recursive items)' })
    .option('include', {
      type: 'string',
      describe:
        'Transfer only names matching this pattern (*, ?, []); needs an --exclude, e.g. --exclude "*"; repeat for more. Every --include comes before every --exclude',
    })
    .option('exclude', { type: 'string', describe: 'Skip names matching this pattern (*, ?, []); repeat for more' })
    .option('source-local-user', { ...single('source-local-user'), type: 'string', describe: 'Local account to read the source collection as' })
    .option('destination-local-user', {
      ...single('destination-local-user'),
      type: 'string',
      describe: 'Local account to write the destination collection as',
    })
    .option('external-checksum', {
      ...single('external-checksum'),
      type: 'string',
      describe: "Checksum of the source file, checked after the transfer (one item only; for several, the items file's 4th column)",
    })
    .option('checksum-algorithm', { ...single('checksum-algorithm'), type: 'string', describe: 'Algorithm of --external-checksum (default MD5)' })
    .option('deadline', {
      ...single('deadline'),
      type: 'string',
      describe: 'Date and time by which each task must finish (one fixed time: runs after it fail)',
    })
    .option('notify-on-succeeded', { type: 'boolean', describe: 'E-mail on each successful task (default: no, unlike Transfer)' })
    .option('notify-on-failed', { type: 'boolean', describe: "E-mail when a task fails (default: Transfer's, yes; --no-notify-on-failed: no)" })
    .option('notify-on-inactive', { type: 'boolean', describe: "E-mail when a task needs attention (default: Transfer's, yes; --no-notify-on-inactive: no)" })
    .option('data-access', { type: 'string', array: true, describe: 'UUID of a mapped collection that needs data_access consent; repeat for more' })
    .option('verbose', verbose);
}

/** `job transfer --name … --interval|--cron … --source-endpoint … --dest-endpoint … --item …`: a job for Globus Transfer. */
export const transferCommand: CommandModule<GlobalArgs, TransferArgs> = {
  command: 'transfer',
  describe: 'Submit a job that runs a Globus Transfer on a schedule',
  builder: transferOptions,
  handler: async (args) => {
    const given = transferParamsFromFlags(args, args.io.env);
    // With this user's consents: the local daemon's, and the hosted service's (dependent
    // tokens); another daemon's API runs it with that daemon's own.
    const params = serviceChoice(args.service, args.io.env).kind === 'url' ? given : await withDetectedDataAccess(args, given);
    const { submitJob } = await import('../../submit.ts'); // on demand, as in job submit
    // recursive_symlinks is not in every Transfer provider's input: sent only where it is listed.
    await submitJob(args, params, { schemaOnlyKeys: { recursive_symlinks: '--recursive-symlinks' } });
  },
};

/**
 * The job's scope with a `data_access` dependency for each collection Transfer says needs one
 * (auth/data-access.ts: a GCSv5 mapped collection that is not high-assurance), added to those
 * --data-access named, so the user need not know which. Transfer is asked with the user's
 * Transfer token; before the first login there is none, and the scope stays as given (the
 * login that follows asks for the Transfer scope, and the next `job transfer` can ask).
 * When Transfer cannot be asked, one line says so and how to name a collection by hand.
 */
async function withDetectedDataAccess(args: TransferArgs, params: SubmitJobParams): Promise<SubmitJobParams> {
  const { collectionsNeedingDataAccess, dataAccessDepsFromEnv, dataAccessHint } = await import('../../../auth/data-access.ts');
  const deps = dataAccessDepsFromEnv(args.io.env, (message) => args.io.err(`globus-timer: warning: ${message}`));
  const detected = await collectionsNeedingDataAccess([args['source-endpoint'], args['dest-endpoint']], {
    ...deps,
    onUnknown: (why) => {
      if (why.kind !== 'no-token') args.io.err(dataAccessHint(why));
    },
  });
  return detected === null ? params : { ...params, scope: transferScopeFor([...(args['data-access'] ?? []), ...detected]) };
}
