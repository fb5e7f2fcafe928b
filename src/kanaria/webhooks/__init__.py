"""kanaria.webhooks."""
