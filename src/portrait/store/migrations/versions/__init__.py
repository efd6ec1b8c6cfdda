"""The revisions, oldest first (Alembic reads the files; the package marker only gets them
shipped with the code)."""
