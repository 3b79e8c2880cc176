"""The drivers: what drives the two connectors as AWS does (Lambda invoker, AppFlow session, Athena request sequence)."""
