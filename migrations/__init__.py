"""Alembic migrations: the only way Vitrine's schema is created or changed."""
