"""API resources: one class per endpoint group."""
