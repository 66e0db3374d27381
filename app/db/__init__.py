"""Storage: SQLModel tables, the engine (SQLite WAL or PostgreSQL), Alembic migrations and the
repositories that own every SQL statement. FHIR payloads live in JSON columns, never as tables.
"""
