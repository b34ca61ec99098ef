"""The offline starter: a loopback registry, a starter image and Podman, for a first workspace."""
