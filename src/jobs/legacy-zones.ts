/**
 * Calendar jobs submitted before issue 12 item 10 have no stored zone (timezone null) and
 * followed the daemon's zone at every decision, so a daemon restarted under another TZ
 * moved them. At start the daemon gives each such job the zone it runs in now, the one
 * those jobs have been following, so from then on they keep it whatever TZ a later start
 * has. A code step rather than a drizzle migration: SQL cannot know the zone. Idempotent,
 * and nothing stores a null zone any more (schedule.ts calendarZone), so after the first
 * start it finds nothing. `job update --timezone` changes the zone afterwards.
 */

import { and, isNotNull, isNull } from 'drizzle-orm';
import type { Db } from '../db/open.ts';
import { jobs } from '../db/schema.ts';

/** Give every calendar job without a zone `zone`; returns how many there were. */
export function adoptZoneForLegacyCalendarJobs(db: Db, zone: string | null): number {
  if (zone === null) return 0;
  return db
    .update(jobs)
    .set({ timezone: zone })
    .where(and(isNotNull(jobs.cron), isNull(jobs.timezone)))
    .run().changes;
}
