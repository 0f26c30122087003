"""Backups (SECURITY.md §4): pure policy pieces first — site distance and GFS retention."""
