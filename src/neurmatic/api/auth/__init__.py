"""Authentication: passwords, JWTs, Redis sessions with refresh rotation, OAuth, 2FA, one-time tokens."""
