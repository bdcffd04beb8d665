"""The gateway's HTTP doors other than `/graphql`: the providers' webhooks, the sandbox checkout
page and the health probes. Each checks what arrives and hands it to the resolvers."""
