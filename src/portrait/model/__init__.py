"""Immutable domain types: tag definitions, table schemas. No I/O."""
