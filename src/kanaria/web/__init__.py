"""kanaria.web."""
