"""The database the shared state lives in: the server's experiment record and the trainer's jobs.

One machine uses an embedded SQLite file and needs nothing installed; several replicas point
`database_url` at one PostgreSQL. `connect` turns the setting into an SQLAlchemy engine,
`migrate` brings any database to the current schema (Alembic, versions in `migrations/`), and
`leader` elects the one replica that judges for all (an advisory lock on PostgreSQL).

May import the standard library, SQLAlchemy and Alembic; nothing from server/ or
trainer/ (both build on it).
"""
