"""kanaria.apps.podinfo."""
