"""The third platform: the real engine on a simulated world, for judging the judges.

Where `local` and `kubernetes` give the engine real Deployments, routes and Prometheus, this
platform gives it simulated time and a traffic simulator whose truth is known (a canary exactly
2 points worse, or exactly identical), so `kanaria bench decisions` can measure how often and
how fast each analysis policy decides right.
"""

# Releases per scenario: with no false rollback at all, 400 bound the rate at 0.92 % (95 %), under
# the judge's α of 1 % (368 is the least that can); the quick run is a smoke test.
DEFAULT_SEEDS = 400
QUICK_SEEDS = 10
