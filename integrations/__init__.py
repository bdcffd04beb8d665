"""Clients of the outside world (upstream APIs, storage, Redis), each behind a typed interface."""
