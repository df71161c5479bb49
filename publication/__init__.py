"""Warehouse → publication: what is published, disclosure control, the audit, publishing."""
