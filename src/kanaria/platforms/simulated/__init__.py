"""The third platform: the real engine on a simulated world, for judging the judges.

Where `local` and `kubernetes` give the engine real Deployments, routes and Prometheus, this
platform gives it simulated time and a traffic simulator whose truth is known (a canary exactly
2 points worse, or exactly identical), so `kanaria bench decisions` can measure how often and
how fast each analysis policy decides right.
"""

# Releases per scenario: 200 bounds a false-rollback rate of 0 at 1.8 % (95 %) and runs in a few
# minutes on two cores; the quick run is a smoke test.
DEFAULT_SEEDS = 200
QUICK_SEEDS = 10
