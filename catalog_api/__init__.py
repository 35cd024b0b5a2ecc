"""catalog_api."""
