"""Alembic's scripts for the shared database: env.py and one module per schema version."""
