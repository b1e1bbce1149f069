"""Articles: models, slugs, the writing rules, scheduling and view counting."""
