"""Revisions of the memory's schema, oldest first (`0001_...`, `0002_...`)."""
