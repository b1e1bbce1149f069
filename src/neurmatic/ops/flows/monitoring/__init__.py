"""monitoring: flows of the operators' guide (see docs/architecture.md)."""
