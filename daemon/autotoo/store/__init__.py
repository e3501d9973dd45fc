"""State store: SQLite (WAL) with numbered migrations; every SQL statement is in repository.py."""
