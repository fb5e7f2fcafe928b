"""kanaria.loadtester."""
