"""Waze for Cities feed: parse alert/jam snapshots, poll the feed, track alerts across snapshots (its config
section and registry entry are bots/waze)."""
