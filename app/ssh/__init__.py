"""The SSH gateway (`CODER_SSH_ADDRESS`): `<username>-<workspace>` logins into workspaces."""
