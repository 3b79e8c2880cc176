"""Loopback stand-ins for real SaaS APIs, written from their public documentation (issue 24):
each serves fixed, known data, so tests compare the connectors' rows with brute force over it."""
