"""Demo workspace: synthetic data and tag definitions."""
