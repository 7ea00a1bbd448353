DROP INDEX `runs_job_slot`;--> statement-breakpoint
ALTER TABLE `runs` ADD `manual` integer DEFAULT false NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `runs_job_slot` ON `runs` (`job_id`,`slot_at_ms`) WHERE manual = 0;--> statement-breakpoint
ALTER TABLE `jobs` ADD `cron` text;--> statement-breakpoint
ALTER TABLE `jobs` ADD `timezone` text;--> statement-breakpoint
ALTER TABLE `jobs` ADD `next_slot_at_ms` integer;--> statement-breakpoint
ALTER TABLE `jobs` ADD `manual_run_count` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
-- Hand-added: every existing job is an interval job, whose next slot is on its grid.
UPDATE `jobs` SET `next_slot_at_ms` = `start_at_ms` + `next_slot_index` * `interval_seconds` * 1000;
