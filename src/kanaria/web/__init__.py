"""The web dashboard that either platform serves: canaries, their history, promote and abort.

`dashboard_app(objects, token=…, act=…)` builds it (see `web.dashboard`); `web.actions` has the
`act` that works on both platforms through the Canary's action annotations.
"""
