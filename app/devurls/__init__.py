"""Dev URLs: host names for workspace ports, redirect tickets and the reverse proxy."""
