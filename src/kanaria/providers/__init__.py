"""kanaria.providers."""
