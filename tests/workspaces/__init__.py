"""v0 workspace API tests."""
