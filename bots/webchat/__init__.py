"""Web chat: citizens report from a page of our own web app (web/chat.py) through the same dialogue."""
