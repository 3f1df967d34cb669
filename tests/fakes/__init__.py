"""Local servers that speak real provider protocols, for tests (DESIGN.md §7)."""
