"""The test suite (a package, so `tests.*` is this folder even when an installed distribution ships a
top-level `tests` package of its own, as smdebug_rulesconfig does)."""
