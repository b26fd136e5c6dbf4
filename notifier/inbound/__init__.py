"""Replies arriving from outside: inbound e-mail."""
