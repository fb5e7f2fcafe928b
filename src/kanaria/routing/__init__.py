"""kanaria.routing."""
