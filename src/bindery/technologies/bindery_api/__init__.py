"""bindCommerce-compatible developer API wire formats (see shared design WIRE.md)."""
