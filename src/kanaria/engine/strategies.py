"""How a release moves forward once an interval's checks pass: one function per strategy.

- canary: weights grow by stepWeight (or along stepWeights) up to maxWeight, then promote;
- blue/green: `iterations` analysed intervals with the canary unexposed (or mirrored), one more
  at 100 % canary, then promote;
- A/B testing: `iterations` intervals with the requests that match `analysis.match` on the
  canary, then promote;
- with a router that cannot split traffic (provider `kubernetes`): blue/green, whatever the
  Canary says, without routing steps.
Each is called once per tick and makes at most one move.
"""

from __future__ import annotations

from kanaria.engine import messages
from kanaria.engine.ports import Routes
from kanaria.engine.release import Release
from kanaria.spec.canary import Analysis, HookType, Phase, Strategy


def next_step_weight(analysis: Analysis, canary_weight: int) -> int:
    """How much the canary's weight grows next; 0 once it is at its maximum.

    kanaria never overshoots maxWeight (Flagger goes 20, 40, 60 for step 20, max 50; kanaria
    goes 20, 40, 50).
    """
    ceiling = analysis.max_canary_weight
    if canary_weight >= ceiling:
        return 0
    if analysis.step_weights:
        larger = [step for step in analysis.step_weights if step > canary_weight]
        return min(larger[0], ceiling) - canary_weight if larger else 0
    return min(analysis.step_weight or 0, ceiling - canary_weight)


async def advance(release: Release, routes: Routes) -> None:
    if not release.shifts_traffic:
        await advance_services_only(release)
        return
    strategy = release.spec.analysis.strategy
    if strategy is Strategy.AB_TESTING:
        await advance_ab_testing(release)
    elif strategy is Strategy.BLUE_GREEN:
        await advance_blue_green(release, routes)
    else:
        await advance_canary(release, routes)


async def advance_canary(release: Release, routes: Routes) -> None:
    analysis = release.spec.analysis
    step = next_step_weight(analysis, routes.canary_weight)
    if step == 0:
        await promote_when_confirmed(release)
        return
    if analysis.mirror and routes.canary_weight == 0 and not routes.mirrored:
        await release.set_routes(100, 0, mirrored=True)
        return
    if not routes.mirrored and not await _traffic_increase_confirmed(release):
        return
    canary_weight = routes.canary_weight + step
    await release.set_routes(100 - canary_weight, canary_weight)
    await release.set_status(canary_weight=canary_weight)
    await release.event(messages.advance_weight(release.key, canary_weight))


async def _traffic_increase_confirmed(release: Release) -> bool:
    gate = await release.run_gate(HookType.CONFIRM_TRAFFIC_INCREASE)
    if gate.passed or gate.hook is None:
        return True
    await release.event(messages.waiting_traffic_increase(release.key, gate.hook.name))
    await release.alert(
        "warn", "Canary traffic increase is waiting for approval.", gate.hook.mute_alert
    )
    return False


async def advance_blue_green(release: Release, routes: Routes) -> None:
    total = release.spec.analysis.iterations or 0
    done = release.status.iterations
    if done < total:
        if release.spec.analysis.mirror and not routes.mirrored:
            await release.set_routes(100, 0, mirrored=True)
        await release.set_status(iterations=done + 1)
        await release.event(messages.advance_iteration(release.key, done + 1, total))
    elif done == total:
        if not await _promotion_confirmed(release):
            return
        await release.event(messages.routing_all_to_canary(routes.mirrored))
        await release.set_routes(0, 100)
        await release.set_status(iterations=done + 1, canary_weight=100)
    else:
        await promote(release)


SERVICES_ONLY_ITERATIONS = 10
"""Flagger's iterations for a Canary with traffic weights on plain Services."""


async def advance_services_only(release: Release) -> None:
    """Blue/green without a mesh (provider `kubernetes`), as Flagger runs it: the canary is
    tested through its own Service and users move with the promotion; a Canary written for
    weights or A/B testing is warned about on every step and run with 10 iterations."""
    analysis = release.spec.analysis
    if analysis.match:
        await release.warn(messages.ab_testing_unsupported("kubernetes"))
    total = analysis.iterations or 0
    if total < 1:
        await release.warn(messages.progressive_traffic_unsupported("kubernetes"))
        await release.warn(messages.setting_iterations(SERVICES_ONLY_ITERATIONS))
        total = SERVICES_ONLY_ITERATIONS
    done = release.status.iterations
    if done < total:
        await release.set_status(iterations=done + 1)
        await release.event(messages.advance_iteration(release.key, done + 1, total))
    elif done == total:
        if await _promotion_confirmed(release):
            await release.set_status(iterations=done + 1)
    else:
        await promote(release)


async def advance_ab_testing(release: Release) -> None:
    total = release.spec.analysis.iterations or 0
    done = release.status.iterations
    if done < total:
        # With match rules, "100 % to the canary" applies only to the matching requests.
        await release.set_routes(0, 100)
        await release.set_status(iterations=done + 1)
        await release.event(messages.advance_iteration(release.key, done + 1, total))
        return
    await promote_when_confirmed(release)


async def promote_when_confirmed(release: Release) -> None:
    if await _promotion_confirmed(release):
        await promote(release)


async def _promotion_confirmed(release: Release) -> bool:
    gate = await release.run_gate(HookType.CONFIRM_PROMOTION)
    if gate.passed or gate.hook is None:
        if release.phase is Phase.WAITING_PROMOTION and release.spec.analysis.hooks(
            HookType.CONFIRM_PROMOTION
        ):
            for hook in release.spec.analysis.hooks(HookType.CONFIRM_PROMOTION):
                await release.event(messages.hook_passed("Confirm-promotion", hook.name))
        return True
    if release.phase is not Phase.WAITING_PROMOTION:
        await release.event(messages.waiting_promotion(release.key, gate.hook.name))
        await release.alert(
            "warn", "Canary promotion is waiting for approval.", gate.hook.mute_alert
        )
        await release.set_status(Phase.WAITING_PROMOTION)
    return False


async def promote(release: Release) -> None:
    """Copy the canary's spec to the primary and start the primary's rollout."""
    await release.event(messages.copying_spec(release.target_key, release.primary_key))
    await release.world.target.promote(release.canary)
    await release.set_status(Phase.PROMOTING)
