"""Contract tests: every implementation of a Protocol passes the same suite."""
