"""Hardening tests: hostile input, fuzzing, concurrency and resource limits, over HTTP."""
