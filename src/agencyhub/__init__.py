"""AgencyHub: approvals, SLAs and emergency plans between agencies and their clients."""
