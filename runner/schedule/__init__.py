"""When tasks run: cron fires in a zone (fires), due runs (due), what the state keeps of each task (taskinfo)."""
