"""Notifications: persisted, listed, marked read, and pushed live over WebSockets through Redis pub/sub."""
