"""Escalation: SLA clocks, coverage rota and the client's emergency plan."""
