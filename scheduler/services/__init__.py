"""The domain: plain functions taking a session and keyword arguments, no Flask."""
