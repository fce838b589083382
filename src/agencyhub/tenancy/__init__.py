"""Tenancy: agencies, clients, people, roles, sign-in and invitations."""
