"""GraphQL types: thin declarative mappings of domain objects."""
