"""Administration endpoints (admin role only)."""
