"""Users: the account model, profile endpoints and session management."""
