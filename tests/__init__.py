"""The test suite (a regular package, so that a site-packages `tests` package of a dependency cannot shadow it)."""
