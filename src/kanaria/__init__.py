"""kanaria: canary releases driven by live metrics, on Kubernetes or on one machine."""

__version__ = "0.1.0"
