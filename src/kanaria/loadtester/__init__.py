"""kanaria's load tester: Flagger's load tester API, run as a program of its own.

Canary webhooks post here to run acceptance tests (`type: bash`, blocking), load tests (`cmd`,
in the background, one copy per canary and command) and to ask manual gates. Start it with
`python -m kanaria.loadtester` (flags in `main.py`, API in `server.py`). Unlike Flagger's, it
runs no shell and only listed programs unless told otherwise (`commands.py`), and answers only
JSON requests from webhook clients, with a token if one is set (`server.py`; docs/security.md).

Two flags serve the local platform:

- `--hosts-file PATH` runs every command in its own mount namespace with PATH bound over
  `/etc/hosts`, so cluster names such as `podinfo-canary.test` resolve to the Services' loopback
  virtual IPs (`sandbox.py`).
- `--time-scale N` divides the run time of load generators in commands by N, to follow the
  platform's compressed time: `hey -z 1m` at N=30 runs as `hey -z 2s`. `hey -z`, `ghz -z` and
  `wrk -d` are rewritten, never below one second (`timescale.py`).
"""
