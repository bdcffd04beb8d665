"""Duffel, the live flight provider: the HTTP client, its wire shapes, and its webhooks."""
