"""Wiring: settings, the `crophub` CLI, process supervision and the embedded Redis."""
