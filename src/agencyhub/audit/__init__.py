"""The append-only event log: audit trail, live feed source, reports."""
