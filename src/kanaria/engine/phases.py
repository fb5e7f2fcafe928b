"""What a tick does in each phase of a release, one function per phase or transition.

`tick.py` decides which of these runs; each one makes its moves through a `Release` and
returns. The order of moves inside each follows Flagger's scheduler (reference/flagger.md §2),
so the events come out in the same order with the same words.
"""

from __future__ import annotations

from kanaria.engine import messages
from kanaria.engine.ports import Revision
from kanaria.engine.release import Release
from kanaria.errors import KanariaError
from kanaria.spec.canary import HookType, Phase


async def check_providers(release: Release) -> None:
    """During initialization, say whether the metrics providers answer (never blocks)."""
    try:
        await release.world.observer.check_available(release.canary)
    except KanariaError as exc:
        await release.warn(messages.providers_error(exc))
        return
    await release.event(messages.providers_available())


async def finish_initialization(release: Release, revision: Revision) -> None:
    await release.set_status(
        Phase.INITIALIZED,
        canary_weight=0,
        failed_checks=0,
        iterations=0,
        last_applied_spec=revision.spec_hash,
        last_promoted_spec=revision.spec_hash,
        tracked_configs=revision.configs,
    )
    await release.event(messages.initialized(release.key))
    await release.alert("info", "New Deployment detected, initialization completed.")


def has_changed(release: Release, revision: Revision) -> bool:
    """A new revision to analyse: the template or configs differ from the last applied ones,
    unless the template is back to the last promoted one (a manual revert needs no analysis)."""
    status = release.status
    if not status.last_applied_spec:
        return True
    if (
        revision.spec_hash == status.last_promoted_spec
        and revision.configs == status.tracked_configs
    ):
        return False
    return (
        revision.spec_hash != status.last_applied_spec or revision.configs != status.tracked_configs
    )


async def start_release(release: Release, revision: Revision) -> None:
    """A new revision in Initialized/Succeeded/Failed/Waiting: confirm it, then scale it up."""
    gate = await release.run_gate(HookType.CONFIRM_ROLLOUT)
    if not gate.passed and gate.hook is not None:
        if release.phase is not Phase.WAITING:
            await release.set_status(Phase.WAITING)
            await release.alert("warn", "Canary is waiting for approval.", gate.hook.mute_alert)
        await release.event(messages.waiting_approval(release.key, gate.hook.name))
        return
    if release.phase is Phase.WAITING:
        for hook in release.spec.analysis.hooks(HookType.CONFIRM_ROLLOUT):
            await release.event(messages.hook_passed("Confirm-rollout", hook.name))
    await release.event(messages.new_revision(release.target_key))
    await release.alert("info", "New revision detected, progressing canary analysis.")
    await release.world.target.scale_from_zero(release.canary)
    await _sync_progressing(release, revision)


async def restart_release(release: Release, revision: Revision) -> None:
    """The target changed again during analysis: start over from weight 0."""
    await release.event(messages.revision_restart(release.target_key))
    await release.set_routes(100, 0)
    await _sync_progressing(release, revision)


async def _sync_progressing(release: Release, revision: Revision) -> None:
    await release.set_status(
        Phase.PROGRESSING,
        canary_weight=0,
        failed_checks=0,
        iterations=0,
        last_applied_spec=revision.spec_hash,
        tracked_configs=revision.configs,
        checks=[],
        judge=None,
    )


async def rollback(release: Release, reason: str | None = None) -> None:
    """Route everything back to the primary, scale the canary down, mark the release Failed.

    `reason` is the event that says why, when it is not the failed-checks threshold.
    """
    threshold = release.spec.analysis.failed_checks_threshold
    if reason is None and release.status.failed_checks >= threshold:
        reason = messages.threshold_reached(release.key, release.status.failed_checks)
        await release.warn(reason)
        await release.alert(
            "error", f"Failed checks threshold reached {release.status.failed_checks}"
        )
    elif reason is not None:
        await release.warn(reason)
        await release.alert("error", reason)
    await release.set_routes(100, 0)
    await release.event(messages.canary_failed(release.key))
    await release.world.target.scale_to_zero(release.canary)
    await release.set_status(Phase.FAILED, canary_weight=0)
    if release.world.recorder:
        release.world.recorder.release_finished(release.canary, succeeded=False, skipped=False)
    await run_post_rollout(release)


async def rollback_requested(release: Release) -> bool:
    """A `rollback` webhook answering 2xx asks for a rollback now (also while Waiting)."""
    for hook in release.spec.analysis.hooks(HookType.ROLLBACK):
        try:
            await release.world.webhooks.call(hook, release.payload(hook))
        except KanariaError:
            continue  # a refusal means "no rollback wanted"
        await release.event(messages.hook_passed("Rollback", hook.name))
        await release.alert("warn", "Canary is rolling back, manual rollback triggered.")
        await rollback(release, messages.manual_rollback(release.key))
        return True
    return False


async def run_post_rollout(release: Release) -> None:
    for hook in release.spec.analysis.hooks(HookType.POST_ROLLOUT):
        try:
            await release.world.webhooks.call(hook, release.payload(hook))
        except KanariaError as exc:
            await release.warn(messages.post_rollout_failed(hook.name, exc))
        else:
            await release.event(messages.hook_passed("Post-rollout", hook.name))


async def shift_traffic_to_primary(release: Release, primary_weight: int) -> None:
    """Promoting: the new primary is ready; move traffic back to it, in one step or several."""
    await release.world.target.reconcile_primary_scaler(release.canary, initial=False)
    if not release.shifts_traffic:  # users follow the primary's pods: nothing to route
        await release.set_status(Phase.FINALISING)
        return
    step = release.spec.analysis.step_weight_promotion or 0
    if step == 0 or primary_weight + step >= 100:
        if step == 0:
            await release.event(messages.routing_all_to_primary())
        else:
            await release.event(messages.advance_primary_weight(release.key, 100))
        await release.set_routes(100, 0)
        await release.set_status(Phase.FINALISING, canary_weight=0)
        return
    primary_weight += step
    await release.set_routes(primary_weight, 100 - primary_weight)
    await release.set_status(canary_weight=100 - primary_weight)
    await release.event(messages.advance_primary_weight(release.key, primary_weight))


async def finalise(release: Release) -> None:
    """Finalising: traffic is all on the new primary; scale the canary down and finish."""
    await release.world.target.scale_to_zero(release.canary)
    await release.set_status(
        Phase.SUCCEEDED, canary_weight=0, last_promoted_spec=release.status.last_applied_spec
    )
    if release.world.recorder:
        release.world.recorder.release_finished(release.canary, succeeded=True, skipped=False)
    await run_post_rollout(release)
    await release.event(messages.promotion_completed(release.target_key))
    await release.alert("info", "Canary analysis completed successfully, promotion finished.")


async def skip_analysis(release: Release) -> None:
    """`skipAnalysis: true`: promote at once, without checks."""
    await release.set_routes(100, 0)
    await release.event(messages.copying_spec(release.target_key, release.primary_key))
    await release.world.target.promote(release.canary)
    await release.world.target.reconcile_primary_scaler(release.canary, initial=False)
    await release.world.target.scale_to_zero(release.canary)
    await release.set_status(
        Phase.SUCCEEDED, canary_weight=0, last_promoted_spec=release.status.last_applied_spec
    )
    if release.world.recorder:
        release.world.recorder.release_finished(release.canary, succeeded=True, skipped=True)
    await run_post_rollout(release)
    await release.event(messages.promotion_skipped(release.target_key))
    await release.alert("info", "Canary analysis was skipped, promotion finished.")


async def fail_promotion(release: Release, error: Exception) -> None:
    """The new primary cannot become ready: keep users on the canary, which works."""
    await release.set_routes(0, 100)
    await release.set_status(Phase.FAILED, canary_weight=100)
    message = messages.promotion_failed(release.key, error)
    await release.warn(message)
    await release.alert("error", message)
