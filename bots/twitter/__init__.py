"""Twitter (API v2 via tweepy): parse mentions, poll or stream them, post threaded replies."""
