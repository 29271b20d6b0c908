"""The scheduler's driver: the thread that keeps time for the scheduler's core (the third
door beside src/cli and src/bot, and the only place that imports `schedule`)."""
