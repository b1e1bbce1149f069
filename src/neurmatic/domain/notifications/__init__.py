"""Notifications kept for their users until read, and published on their Redis channel when raised."""
