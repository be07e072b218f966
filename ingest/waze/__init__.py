"""Waze for Cities feed: parse alert/jam snapshots into reports (the poller comes later)."""
