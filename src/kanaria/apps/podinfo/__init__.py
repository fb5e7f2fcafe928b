"""A podinfo-compatible HTTP app, so the reference scenario runs without podinfo's Go binary.

The local platform maps `stefanprodan/podinfo:<tag>` to `python -m kanaria.apps.podinfo
--version-label <tag>` followed by the container's own podinfo flags; see `config.py` for the
flags and `app.py` for the API.
"""
