"""Configuration: YAML loading with positions, pydantic models, located problems."""
