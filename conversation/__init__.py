"""The WhatsApp assistant: a client of the GraphQL schema, handed an executor at start-up."""
