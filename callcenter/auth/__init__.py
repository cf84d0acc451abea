"""Accounts and access: password hashing, sessions, CSRF tokens and rate limits."""
