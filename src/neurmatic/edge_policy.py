"""What the API and its edge (nginx) agree on, in one place: the template renders these numbers and the
app's caching headers and limits follow them."""

from __future__ import annotations

# nginx keeps an anonymous 200 at most this long (its microcache). A response the app lets the edge
# cache must not outlive a change (a deleted or restricted file) by more than this.
MICROCACHE_SECONDS = 10

# The longest request URI the edge passes on; longer ones get a 414 in the API's error body.
MAX_URI_BYTES = 8192
