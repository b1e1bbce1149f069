"""Notifications kept for their users until read."""
