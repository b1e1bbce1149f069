"""Uploaded files: their records."""
