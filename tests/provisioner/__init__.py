"""Provisioner tests: job queue, daemons, the Docker engine against real Podman."""
