"""kanaria.apps."""
