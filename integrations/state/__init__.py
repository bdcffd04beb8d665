"""Where state lives: the database (`store`), and what replicas share through Redis or, for one
process, in memory (cache, event bus, sessions, rate limits)."""
