"""Running commands in workspaces for clients: wsep, the WebSocket protocol of the classic CLI."""
