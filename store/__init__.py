"""SQLAlchemy models, the session factory, and the few functions that read and write them."""
