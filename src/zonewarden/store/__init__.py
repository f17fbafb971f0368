"""Persistence: SQLAlchemy Core schema with named migrations; SQLite by default, PostgreSQL central."""
