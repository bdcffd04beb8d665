"""Meta's WhatsApp Cloud API: inbound webhooks, Meta's message limits, and the sending client."""
