"""The offline flight provider: deterministic offers over real airports, airlines and fares."""

from integrations.sandbox.flights.provider import SandboxFlights

__all__ = ["SandboxFlights"]
