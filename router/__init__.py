"""Turns stored messages into tickets and replies: the pipeline job, commands, templates, outbox."""
