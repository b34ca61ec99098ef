"""Workspaces as containers: the job queue, the daemons that run jobs, engines, stats."""
