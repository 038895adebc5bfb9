"""Shipped resources: the demo clinic, style sheets, icons."""
