"""The integration engine: nodes, connectors, procedures, durable runs, delta sync, bindings."""
