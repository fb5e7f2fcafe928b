"""kanaria.platforms.kubernetes."""
