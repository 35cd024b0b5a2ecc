"""tiler."""
