"""What the ``*-int8-mixed`` targets share: the repair options, their checks, and the cache key.

Each mixed target is its format's plain int8 target plus the repair search of
``edgekit.quant.repair``; the options that steer the search (``time_budget_s``, ``max_kept``,
``search_samples``) and the accuracy budget mean the same for TFLite, ExecuTorch and ONNX, so they
are checked and keyed here once instead of in three copies that could drift apart.
"""

from __future__ import annotations

from edgekit.errors import EdgekitError
from edgekit.targets.base import BuildContext, Target

SEARCH_OPTIONS = ("time_budget_s", "max_kept", "search_samples")
_INT_OPTIONS = (("max_kept", 1), ("search_samples", 2))


def int_option(ctx: BuildContext, target: str, key: str, lo: int) -> int | None:
    """``[options.TARGET] key``: None when unset, else an integer >= ``lo`` (one edgekit: line otherwise)."""
    v = ctx.options.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise EdgekitError(
            f"{target} option {key} must be an integer >= {lo}, not {v!r}", f"set [options.{target}] {key} = {max(lo, 8)}"
        )
    return v


def check_search(ctx: BuildContext, target: str) -> None:
    """The search options and the accuracy budget, checked before anything is built."""
    from edgekit.quant.budget import budget_for

    for key, lo in _INT_OPTIONS:
        int_option(ctx, target, key, lo)
    budget_for(ctx)


def search_key(ctx: BuildContext, with_options: bool = True) -> dict:
    """The cache key's part for the search: the budget (and the target's options)."""
    from edgekit.quant.budget import budget_for

    key: dict = {"budget": budget_for(ctx).as_dict()}
    if with_options:
        key["options"] = dict(ctx.options)
    return {"mixed": key}


def names(items: list, limit: int = 8) -> str:
    """A terminal-sized list of layer names (the manifest keeps them all)."""
    shown = ", ".join(items[:limit]) or "none"
    return shown + (f" and {len(items) - limit} more (see the manifest)" if len(items) > limit else "")


class OnBaseTarget(Target):
    """A mixed target that converts through its format's plain int8 target (``base_target``) in a
    context of that target's options: TFLite and ONNX (ExecuTorch's subclasses its int8 target)."""

    base_target: str = ""

    def _base(self) -> Target:
        from edgekit.targets import TARGETS

        return TARGETS.get(self.base_target)

    def _base_ctx(self, ctx: BuildContext) -> BuildContext:
        raise NotImplementedError

    def cache_settings(self, ctx: BuildContext) -> dict:
        return {**self._base().cache_settings(self._base_ctx(ctx)), **search_key(ctx)}

    def check(self, ctx: BuildContext) -> None:
        super().check(ctx)
        self._base().check(self._base_ctx(ctx))
        check_search(ctx, self.name)

    def _int_option(self, ctx: BuildContext, key: str, lo: int) -> int | None:
        return int_option(ctx, self.name, key, lo)


def missed_budget(result, best: float, kept_named: list, unhelpful: list, min_cosine, ceiling_why: str) -> str:
    """The warning of a search that did not meet the budget: the best reached, with how many layers
    kept, and which of them precision alone did not fix (or why a ceiling stopped it at once)."""
    if result.stopped == "ceiling":
        why = f"even with all {len(result.kept)} candidate layers float the model reaches cosine {best:.4f}: {ceiling_why}"
    else:
        why = f"best cosine {best:.4f} with {len(result.kept)} layer(s) float ({names(kept_named)})" + (
            f"; precision alone did not help: {names(unhelpful)}" if unhelpful else "; the loss is spread over many layers"
        )
    return f"repair missed the budget (min_cosine {min_cosine}): {why}"
