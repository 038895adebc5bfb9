"""Persistence: tables, the embedded server, the transaction runner, migrations.

Only this layer (and services through it) talks SQL.
"""
