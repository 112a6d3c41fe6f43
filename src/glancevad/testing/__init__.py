"""Helpers for glancevad's own tests and benchmarks: independent plain-loop references."""
