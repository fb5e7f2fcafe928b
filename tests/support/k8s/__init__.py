"""A Kubernetes API emulator for kanaria's integration tests (no cluster exists where tests run).

`emulator.KubernetesEmulator` is the server, `fixtures` serves it on 127.0.0.1 for a test, and
`operators.running_operator` runs a kopf operator against it in a thread of its own.
"""
