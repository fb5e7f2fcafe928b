"""kanaria.platforms."""
