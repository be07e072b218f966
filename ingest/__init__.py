"""The normalised message, its parts, and the durable intake every channel hands messages to."""
from ingest.message import Address, Location, Media, Message, Sender

__all__ = ["Address", "Location", "Media", "Message", "Sender"]
