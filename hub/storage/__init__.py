"""Storage: SQLAlchemy models, engines and migrations. ORM objects stay in here."""
