"""kanaria.analysis."""
