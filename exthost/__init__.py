"""Extension host: plugin manifests, discovery, lifecycle, routing and the `sv` command line."""
