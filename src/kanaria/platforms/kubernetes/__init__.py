"""kanaria on a Kubernetes cluster: the kopf operator and the API client under the shared code.

Everything that creates and changes objects (the primary, the Services, the Istio objects, the
Events) is shared with the local platform and written against `ObjectClient`; this package
adds that client over the Kubernetes API, the kopf wiring, leader election and `/metrics`.
"""
