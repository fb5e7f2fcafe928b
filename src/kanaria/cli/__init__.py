"""kanaria.cli."""
