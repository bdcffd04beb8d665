"""The interfaces and neutral models the rest of the gateway depends on: flights, airline orders,
payments, exchange rates, messaging, and the upstream failures. Each live client and each sandbox
provider answers with these, so nothing above this package sees a provider's own shapes."""
