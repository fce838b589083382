"""Declarative tenant files (format: ``tenants/README.md``).

``files`` reads, validates and renders them and holds the entry points; ``apply`` is
the database side (create, update, prune, export) of agencies, clients and people;
``escalation`` the same for each client's SLA policy, templates, plan and rota. The
package sits above the features it configures: tenancy and escalation know nothing
of it.
"""
