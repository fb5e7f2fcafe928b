"""Demo applications that the local platform runs in place of container images."""
