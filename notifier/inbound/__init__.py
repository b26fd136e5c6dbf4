"""Replies arriving from outside: inbound SMS and e-mail, made into answers."""
