"""Sessions in Redis: one login on one device, with the refresh token it may use next."""
