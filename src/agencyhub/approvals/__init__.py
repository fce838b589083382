"""Approvals: drafts, revisions, decisions and the client's approval queue."""
