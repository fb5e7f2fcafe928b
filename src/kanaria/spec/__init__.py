"""kanaria.spec."""
