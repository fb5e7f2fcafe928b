"""kanaria.workloads."""
