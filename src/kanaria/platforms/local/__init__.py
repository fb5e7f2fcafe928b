"""kanaria.platforms.local."""
