"""One tick: advance one canary by one step. It reads like the list of phases.

A tick is called every `analysis.interval` for every canary (by the local control plane, by
the operator's daemon, or by a test on simulated time). Everything it needs to continue is in
the Canary's status and in the routes the router reads back, so a restarted controller goes on
where the last one stopped.
"""

from __future__ import annotations

import time

from kanaria.engine import actions, judging, messages, phases, strategies
from kanaria.engine.checks import Outcome, run_analysis
from kanaria.engine.ports import Revision, Routes, World
from kanaria.engine.release import Release
from kanaria.errors import KanariaError, PermanentError, TemporaryError
from kanaria.spec.canary import HookType, Phase

_ACTIVE = frozenset({Phase.PROGRESSING, Phase.WAITING_PROMOTION, Phase.PROMOTING, Phase.FINALISING})
_ANALYSING = frozenset({Phase.PROGRESSING, Phase.WAITING_PROMOTION})


async def advance(world: World, namespace: str, name: str) -> None:
    """Advance the canary `namespace/name` by one step."""
    canary = await world.canaries.get(namespace, name)
    if canary is None:
        return
    release = Release(world, canary)
    if canary.spec.suspend:
        await release.event(messages.suspended())
        return
    if not await actions.handle_request(release):
        return
    started = time.monotonic()
    await tick(release)
    if world.recorder:
        world.recorder.tick_duration(canary, time.monotonic() - started)


async def tick(release: Release) -> None:
    world, canary = release.world, release.canary
    analysing = not canary.spec.skip_analysis
    if release.phase is Phase.INITIALIZING and analysing:
        await phases.check_providers(release)
    await world.target.initialize(canary)
    if release.phase is Phase.INITIALIZING and analysing and not await _primary_ready(release):
        return
    if canary.spec.autoscaler_ref is not None:
        await world.target.reconcile_primary_scaler(canary, initial=True)
    await world.router.reconcile(canary)
    revision = await world.target.revision(canary)
    if release.phase is Phase.INITIALIZING:
        await world.target.scale_to_zero(canary)
        await phases.finish_initialization(release, revision)
        return
    if release.phase not in _ACTIVE | {Phase.WAITING} and not phases.has_changed(release, revision):
        return
    await progress(release, revision)


async def progress(release: Release, revision: Revision) -> None:
    """A release is under way (or about to start): gates, readiness, analysis, next step."""
    world, canary = release.world, release.canary
    if not canary.spec.skip_analysis and not await _primary_ready(release):
        return
    routes = await world.router.get_routes(canary)
    if release.phase is Phase.WAITING and await phases.rollback_requested(release):
        return
    if release.phase not in _ACTIVE:
        await phases.start_release(release, revision)
        return
    if release.phase in _ANALYSING and _revision_moved(release, revision):
        await phases.restart_release(release, revision)
        return
    if not await _canary_ready(release):
        return
    if canary.spec.skip_analysis:
        await phases.skip_analysis(release)
        return
    if release.phase in _ANALYSING and await phases.rollback_requested(release):
        return
    if release.phase is Phase.PROMOTING:
        await phases.shift_traffic_to_primary(release, routes.primary_weight)
        return
    if release.phase is Phase.FINALISING:
        await phases.finalise(release)
        return
    if release.status.failed_checks >= canary.spec.analysis.failed_checks_threshold:
        await phases.rollback(release)
        return
    if await analyse(release, routes) is Outcome.PASSED:
        await strategies.advance(release, routes)


def _revision_moved(release: Release, revision: Revision) -> bool:
    status = release.status
    return (
        revision.spec_hash != status.last_applied_spec or revision.configs != status.tracked_configs
    )


async def analyse(release: Release, routes: Routes) -> Outcome:
    """The first tick of a release runs the pre-rollout hooks; later ticks run the checks."""
    analysis = release.spec.analysis
    starting = (
        routes.canary_weight == 0
        and release.status.iterations == 0
        and not (analysis.mirror and routes.mirrored)
    )
    if starting:
        await release.event(messages.starting_analysis(release.target_key))
        return await _pre_rollout(release)
    outcome = await run_analysis(release)
    if outcome is Outcome.FAILED:
        await release.count_failed_check()
    if outcome is Outcome.PASSED and await judging.look(release):
        return Outcome.HELD  # the judge rolled back or promoted: no step this tick
    return outcome


async def look(world: World, namespace: str, name: str) -> None:
    """Between ticks: let the sequential judge look at the counts (and act on its verdict)."""
    canary = await world.canaries.get(namespace, name)
    if canary is None or canary.spec.suspend or canary.status.paused:
        return
    await judging.look(Release(world, canary))


async def _pre_rollout(release: Release) -> Outcome:
    for hook in release.spec.analysis.hooks(HookType.PRE_ROLLOUT):
        try:
            await release.world.webhooks.call(hook, release.payload(hook))
        except KanariaError as exc:
            await release.warn(messages.pre_rollout_failed(release.key, hook.name, exc))
            await release.count_failed_check()
            return Outcome.FAILED
        await release.event(messages.hook_passed("Pre-rollout", hook.name))
    return Outcome.PASSED


async def _primary_ready(release: Release) -> bool:
    try:
        await release.world.target.check_primary_ready(release.canary)
    except TemporaryError as exc:
        await release.warn(str(exc))
        return False
    except PermanentError as exc:
        if release.phase is Phase.INITIALIZING:
            # Nothing to roll back yet: say so, and keep waiting for the primary to recover.
            await release.warn(str(exc))
        elif release.phase in (Phase.PROMOTING, Phase.FINALISING):
            await phases.fail_promotion(release, exc)
        else:
            await phases.rollback(release, messages.deadline_exceeded(release.key, exc))
        return False
    return True


async def _canary_ready(release: Release) -> bool:
    try:
        await release.world.target.check_canary_ready(release.canary)
    except TemporaryError as exc:
        await release.warn(str(exc))
        return False
    except PermanentError as exc:
        await phases.rollback(release, messages.deadline_exceeded(release.key, exc))
        return False
    return True
