"""Governance of shared learning: forgetting a user, retention of run text, and (with
`evofuse.store.audit`) the audit log of admin actions."""
