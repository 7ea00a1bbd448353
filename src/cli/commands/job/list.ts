import type { CommandModule } from 'yargs';
import { withJobs, type GlobalArgs } from '../../context.ts';
import { allJobs, eachJobPage } from '../../job-pages.ts';
import { verbose, wantsJson } from '../../options.ts';
import { formatTable, JOB_TABLE_HEADERS, jobRow, toJson } from '../../output.ts';

interface ListArgs extends GlobalArgs {
  'show-deleted': boolean;
  verbose: boolean;
}

/** `job list [--show-deleted]`: a table of every job, or with --format json (or -v) their documents. */
export const listCommand: CommandModule<GlobalArgs, ListArgs> = {
  command: 'list',
  describe: 'List jobs',
  builder: (y) => y.option('show-deleted', { type: 'boolean', default: false, describe: 'Include deleted jobs' }).option('verbose', verbose),
  handler: async (args) => {
    const { io } = args;
    if (wantsJson(args)) return io.out(toJson(await withJobs(args, (c) => allJobs(c, args['show-deleted']))));
    // Text keeps only each page's cells, not the documents (with their runs): the
    // column widths need every row before the first line can be printed.
    const now = Date.now();
    const rows: string[][] = [];
    await withJobs(args, (c) => eachJobPage(c, args['show-deleted'], (page) => rows.push(...page.map((j) => jobRow(j, now)))));
    io.out(formatTable(JOB_TABLE_HEADERS, rows));
  },
};
