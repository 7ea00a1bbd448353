CREATE TABLE `run_archive` (
	`id` integer PRIMARY KEY NOT NULL,
	`job_key` blob NOT NULL,
	`slot_at_ms` integer NOT NULL,
	`fired_delta_ms` integer NOT NULL,
	`completed_delta_ms` integer NOT NULL,
	`flags` integer NOT NULL,
	`http_status` integer,
	`request_key` blob,
	`action_key` blob,
	`action_status` text,
	`summary` text,
	`error` text
);
--> statement-breakpoint
CREATE INDEX `run_archive_job` ON `run_archive` (`job_key`,`id`);--> statement-breakpoint
CREATE INDEX `run_archive_slot` ON `run_archive` (`slot_at_ms`);