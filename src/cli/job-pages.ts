import type { JobsClient } from '../contract/client.ts';
import type { JobDocument, JobPage } from '../contract/protocol.ts';

/** Every job, page by page (the daemon never sends a whole million-job list at once). */
export async function eachJobPage(client: JobsClient, showDeleted: boolean, onPage: (jobs: JobDocument[]) => void): Promise<void> {
  let cursor: string | null = null;
  do {
    const page: JobPage = await client.call('job.list', { limit: 1000, cursor, show_deleted: showDeleted });
    onPage(page.jobs);
    cursor = page.next_cursor;
  } while (cursor);
}

export async function allJobs(client: JobsClient, showDeleted: boolean): Promise<JobDocument[]> {
  const jobs: JobDocument[] = [];
  await eachJobPage(client, showDeleted, (page) => jobs.push(...page));
  return jobs;
}
