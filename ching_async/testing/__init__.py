"""In-memory fake CHING server for tests (work in progress)."""
