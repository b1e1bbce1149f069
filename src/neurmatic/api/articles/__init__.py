"""Articles: what the platform's users come for (with categories, tags, search and bookmarks)."""
