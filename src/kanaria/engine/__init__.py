"""kanaria.engine."""
