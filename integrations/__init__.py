"""The outside world behind typed interfaces.

`ports` holds the interfaces and neutral models; `duffel`, `paystack`, `fx` and `whatsapp` are the
live clients; `sandbox` the offline providers; `state` the database and the shared state.
"""
