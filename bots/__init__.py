"""Chat channels: each turns its payloads into `ingest.Message` and sends replies to an `Address`."""
