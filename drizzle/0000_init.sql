CREATE TABLE `jobs` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`start_at_ms` integer NOT NULL,
	`interval_seconds` integer NOT NULL,
	`stop_after_date_ms` integer,
	`stop_after_runs` integer,
	`scope` text,
	`callback_url` text NOT NULL,
	`callback_body` text NOT NULL,
	`overlap` text DEFAULT 'skip' NOT NULL,
	`misfire` text DEFAULT 'coalesce' NOT NULL,
	`status` text NOT NULL,
	`inactive_reason` text,
	`submitted_at_ms` integer NOT NULL,
	`next_slot_index` integer NOT NULL,
	`next_run_at_ms` integer,
	`last_ran_at_ms` integer,
	`run_count` integer DEFAULT 0 NOT NULL,
	`error_count` integer DEFAULT 0 NOT NULL,
	`missed_slots` integer DEFAULT 0 NOT NULL,
	`overlap_skipped_slots` integer DEFAULT 0 NOT NULL,
	`updated_at_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `jobs_next_run_at` ON `jobs` (`next_run_at_ms`);--> statement-breakpoint
CREATE INDEX `jobs_submitted` ON `jobs` (`submitted_at_ms`,`id`);--> statement-breakpoint
CREATE TABLE `runs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`job_id` text NOT NULL,
	`slot_at_ms` integer NOT NULL,
	`request_id` text NOT NULL,
	`state` text NOT NULL,
	`fired_at_ms` integer NOT NULL,
	`retry_until_ms` integer NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`http_status` integer,
	`action_id` text,
	`action_status` text,
	`action_document` text,
	`error` text,
	`completed_at_ms` integer,
	FOREIGN KEY (`job_id`) REFERENCES `jobs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `runs_job_slot` ON `runs` (`job_id`,`slot_at_ms`);--> statement-breakpoint
CREATE UNIQUE INDEX `runs_request_id` ON `runs` (`request_id`);--> statement-breakpoint
CREATE INDEX `runs_job_id` ON `runs` (`job_id`,`id`);--> statement-breakpoint
CREATE INDEX `runs_open` ON `runs` (`job_id`) WHERE completed_at_ms IS NULL;--> statement-breakpoint
CREATE INDEX `runs_completed` ON `runs` (`completed_at_ms`);