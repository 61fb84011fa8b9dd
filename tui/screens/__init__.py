"""Modal screens of the monitor: the key help and the exact-limits dialog."""
