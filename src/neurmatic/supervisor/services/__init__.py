"""One class per kind of server of the local topology."""
