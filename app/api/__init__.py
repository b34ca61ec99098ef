"""The HTTP API: two flask-smorest Apis, /api/v0 and /api/v2."""
