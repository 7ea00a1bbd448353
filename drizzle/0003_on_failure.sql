ALTER TABLE `jobs` ADD `on_failure` text;--> statement-breakpoint
ALTER TABLE `jobs` ADD `failure_notified` integer DEFAULT false NOT NULL;--> statement-breakpoint
CREATE INDEX `jobs_with_on_failure` ON `jobs` (`id`) WHERE on_failure IS NOT NULL;