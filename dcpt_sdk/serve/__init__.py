"""dcpt-serve: one Restorer behind an HTTP service (the ``serve`` extra)."""
