"""pycoderd's test suite (mirrors app/)."""
