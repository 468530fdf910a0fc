"""Optimisers from a typed config: ``make_optimiser(OptimConfig, steps_per_update) -> optax.GradientTransformation``.

``OptimConfig`` is a pydantic base class: an agent's (or the Trainer's) config inherits its fields and
overrides the defaults with its paper's values, so ``-o agent.learning_rate=3e-4`` or
``-o agent.lr_schedule=cosine`` works the same on every agent. Step-size schedules count *updates*
(calls of the agent's ``update``); an update that takes ``steps_per_update`` gradient steps (PPO's epochs
x minibatches) passes that number and the schedule advances per gradient step, as optax counts.

The chain is ``[clip_by_global_norm] -> [add_decayed_weights] -> optimiser(step size)``, built once, the
same way for every agent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Optional, Union

from pydantic import Field

from rlk.core.config import PluginConfig

if TYPE_CHECKING:  # optax (and jax) load when an optimiser is built: configs stay light for `rlk --help`
    import optax


class OptimConfig(PluginConfig):
    """The optimiser, its step size and schedule, gradient clipping and weight decay."""

    optimiser: Literal["adam", "adamw", "sgd", "rmsprop"] = Field("adam", description="adam, adamw (decoupled weight decay), sgd (with momentum), rmsprop")
    learning_rate: float = Field(1e-3, gt=0, description="peak step size")
    lr_schedule: Literal["constant", "linear", "cosine", "exponential"] = Field(
        "constant", description="step-size schedule after warm-up: constant; linear or cosine decay to "
                                "lr_final_fraction * learning_rate over lr_decay_updates; exponential: times "
                                "lr_decay_rate every lr_decay_updates, continuously")
    lr_warmup_updates: int = Field(0, ge=0, description="updates of linear warm-up from 0 to learning_rate")
    lr_decay_updates: int = Field(1000, gt=0, description="updates of the decay (linear, cosine) or of one lr_decay_rate factor (exponential)")
    lr_decay_rate: float = Field(0.1, gt=0, le=1, description="exponential schedule: factor per lr_decay_updates")
    lr_final_fraction: float = Field(0.0, ge=0, le=1, description="linear and cosine schedules end at this fraction of learning_rate")
    max_grad_norm: Optional[float] = Field(None, gt=0, description="clip the global gradient norm (None: no clipping)")
    adam_eps: float = Field(1e-8, gt=0, description="epsilon of adam, adamw and rmsprop")
    momentum: float = Field(0.0, ge=0, lt=1, description="sgd momentum")
    weight_decay: float = Field(0.0, ge=0, description="adamw: decoupled weight decay; other optimisers: L2 decay added to the gradient")


def step_size(config: OptimConfig, steps_per_update: int = 1) -> Union[float, optax.Schedule]:
    """The step size: a constant (no schedule state in the optimiser) or an optax schedule over gradient steps."""
    import optax

    c = config
    if c.lr_schedule == "constant" and c.lr_warmup_updates == 0:
        return c.learning_rate
    decay = c.lr_decay_updates * steps_per_update
    final = c.learning_rate * c.lr_final_fraction
    main = {
        "constant": lambda: optax.constant_schedule(c.learning_rate),
        "linear": lambda: optax.linear_schedule(c.learning_rate, final, decay),
        "cosine": lambda: optax.cosine_decay_schedule(c.learning_rate, decay, alpha=c.lr_final_fraction),
        "exponential": lambda: optax.exponential_decay(c.learning_rate, decay, c.lr_decay_rate),
    }[c.lr_schedule]()
    if c.lr_warmup_updates == 0:
        return main
    warmup = c.lr_warmup_updates * steps_per_update
    return optax.join_schedules([optax.linear_schedule(0.0, c.learning_rate, warmup), main], [warmup])


def make_optimiser(config: OptimConfig, steps_per_update: int = 1) -> optax.GradientTransformation:
    """``config``'s optimiser; ``steps_per_update``: gradient steps per agent update (schedules count updates)."""
    import optax

    c = config
    lr = step_size(c, steps_per_update)
    if c.optimiser == "adam":
        opt = optax.adam(lr, eps=c.adam_eps)
    elif c.optimiser == "adamw":
        opt = optax.adamw(lr, eps=c.adam_eps, weight_decay=c.weight_decay)
    elif c.optimiser == "rmsprop":
        opt = optax.rmsprop(lr, eps=c.adam_eps)
    else:
        opt = optax.sgd(lr, momentum=c.momentum or None)
    parts = []
    if c.max_grad_norm is not None:
        parts.append(optax.clip_by_global_norm(c.max_grad_norm))
    if c.weight_decay and c.optimiser != "adamw":
        parts.append(optax.add_decayed_weights(c.weight_decay))
    return optax.chain(*parts, opt) if parts else opt
