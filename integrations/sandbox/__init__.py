"""Sandbox targets: built-in receivers that stand in for an ERP, a supplier portal and a TMS."""
