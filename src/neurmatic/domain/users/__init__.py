"""Accounts: the user model, passwords and their policy, usernames, one-time tokens, two-factor."""
