"""The edge: Starlette app, GraphQL schema and types, webhooks, settings, composition root."""
