"""The sandbox providers used when no credentials are set (`mode: SANDBOX`): flights, the
airline, payments, exchange rates and a recording WhatsApp sender. Deterministic and offline."""
