"""``RunConfig``: one validated description of a run, from flags, YAML and ``-o`` overrides.

A run names its plugins as components, ``{"name": "ppo", <the plugin's own fields>...}``; the
component's fields are validated against the plugin's pydantic config once the registry has
resolved it, so ``-o agent.learning_rate=abc`` fails naming ``agent.learning_rate``. The resolved
config (every default filled in) is saved as ``config.json`` in the run folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rlk.core.errors import RlkError


# jax.random.key keeps a seed's low 32 bits: a larger seed would silently equal a smaller one.
SEED_LIMIT = 2**32
HiddenSizes = Annotated[tuple[Annotated[int, Field(gt=0)], ...], Field(description="MLP hidden sizes, each >= 1")]
"""The hidden layer sizes of an MLP (``()``: none, a linear map); every plugin config's ``hidden_sizes``."""


class PluginConfig(BaseModel):
    """Base class of every plugin's config: unknown fields are errors, assignment is validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Component(BaseModel):
    """A plugin choice: its registered ``name`` and any of its config fields."""

    model_config = ConfigDict(extra="allow")
    name: str

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class RunConfig(BaseModel):
    """Everything that defines a run. Pydantic stays here, at the edge; ``jit`` sees plain values."""

    model_config = ConfigDict(extra="forbid")
    agent: Component = Field(default_factory=lambda: Component(name="ppo"), description="agent plugin and its options")
    env: Component = Field(default_factory=lambda: Component(name="catch"), description="environment plugin and its options")
    backend: Component = Field(default_factory=lambda: Component(name="cpu"), description="backend plugin and its options")
    model: Optional[Component] = Field(None, description="model plugin (Trainer runs)")
    dataset: Optional[Component] = Field(None, description="dataset plugin (Trainer runs)")
    arch: Optional[Component] = Field(None, description="architecture and its options; default: anakin for JAX envs, sebulba otherwise")
    losses: dict[str, dict[str, Any]] = Field(default_factory=dict, description="options of the agent's losses by loss name "
                                               "(-o losses.NAME.FIELD=VALUE); every composed loss's defaults filled in")
    seed: int = Field(0, ge=0, lt=SEED_LIMIT, description="seed of the first (or only) run; seed i of --num-seeds is seed + i")
    num_seeds: int = Field(1, ge=1, description="independent seeds trained in one compiled program")
    steps: int = Field(150_000, gt=0, description="environment steps (summed over the batch of environments); "
                                                  "model runs: updates (default 2,000)")
    log_every_steps: int = Field(10_000, gt=0, description="env steps between metric rows; "
                                                         "model runs: updates (default 100)")
    max_rows_per_call: int = Field(16, ge=1, description="metric rows one compiled call may make (programs that group "
                                   "rows: anakin); short rows are grouped up to call_target_s; 1: a call per row")
    call_target_s: float = Field(2.0, ge=0, description="wall-clock seconds a compiled call aims at when rows are grouped "
                                 "(a signal or a due checkpoint waits for the call; 0: a call per row; 2 s: Catch 4x128's "
                                 "loop 10.1-11.3 s against 12.2-13.7 s at 0.5 s, benchmarks/results-run-loop.md run 8)")
    checkpoint_every_steps: Optional[int] = Field(None, gt=0, description="env steps between periodic checkpoints "
                                                  "(model runs: updates, default 1,000); agent runs default to none: "
                                                  "checkpoint_every_s decides")
    checkpoint_every_s: Optional[float] = Field(60.0, gt=0, description="wall-clock seconds between periodic checkpoints "
                                                "(whichever of the two intervals is due first; the last call always saves)")
    eval_episodes: int = Field(100, ge=1, description="greedy episodes per seed for final_return at the end "
                                                     "and for each evaluation during training")
    eval_every_steps: Optional[int] = Field(None, gt=0, description="env steps (model runs: updates) between greedy "
                                            "evaluations during training (eval_return rows, at the first call at "
                                            "or after each multiple); None: off")
    eval_training_policy: bool = Field(False, description="also evaluate the training policy (the agent's sampling "
                                       "act, not the greedy one) at each evaluation during training: "
                                       "eval_return_training rows")
    keep_checkpoints: int = Field(2, ge=1, description="checkpoints kept: the last N (besides the best one)")
    keep_best: Optional[bool] = Field(None, description="also keep the checkpoint of the highest eval_return "
                                      "(mean over seeds); None: on when eval_every_steps is set")
    run_dir: Optional[str] = Field(None, description="run folder (default runs/<agent>-<env>-<time>)")
    loggers: list[Component] = Field(default_factory=lambda: [Component(name="csv"), Component(name="tensorboard")],
                                      description="metric loggers (plugins of kind logger), names or {name: ..., options}; "
                                                  "csv is always one (resume and rlk plot read metrics.csv)")

    @field_validator("loggers", mode="before")
    @classmethod
    def _logger_names(cls, value: Any) -> Any:
        """``csv,wandb``, ``[csv, wandb]`` or ``[{name: wandb, project: P}]``: names become components."""
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        return [{"name": v.strip()} if isinstance(v, str) else v for v in value] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _seeds_in_range(self) -> "RunConfig":
        last = self.seed + self.num_seeds - 1
        if last >= SEED_LIMIT:
            raise ValueError(f"the last seed, seed + num_seeds - 1 = {last}, must be < 2**32")
        if self.eval_training_policy and self.eval_every_steps is None:
            raise ValueError("eval_training_policy needs eval_every_steps (it adds to the evaluations during training)")
        if self.keep_best and self.eval_every_steps is None:
            raise ValueError("keep_best needs eval_every_steps (the best checkpoint is ranked by eval_return)")
        return self

    @property
    def keeps_best(self) -> bool:
        """Whether the best checkpoint by eval_return is kept (``keep_best``, by default with evaluation on)."""
        return self.eval_every_steps is not None if self.keep_best is None else self.keep_best


def one_line(err: ValidationError, prefix: str = "") -> str:
    """A pydantic error as one line naming the field(s) at fault."""
    parts = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"])
        field = f"{prefix}{loc}" if loc else prefix.rstrip(".") or "config"
        if e["type"] == "extra_forbidden":
            parts.append(f"unknown config field '{field}'")
        elif e["type"] == "value_error" and not loc:  # a check across fields: its message names them
            parts.append(f"{prefix.rstrip('.') + ': ' if prefix else ''}{e['msg'].removeprefix('Value error, ')}")
        else:
            parts.append(f"{field}: {e['msg']} (got {e.get('input')!r})")
    return "; ".join(parts)


def parse_value(text: str) -> Any:
    """An override value: JSON if it parses (numbers, bools, lists), else YAML, else the string."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return text if isinstance(value, (dict, type(None))) and text.strip() not in ("null", "~") else value


def apply_override(data: dict[str, Any], override: str) -> None:
    """Applies ``path.to.field=value`` to a nested dict in place."""
    if "=" not in override:
        raise RlkError(f"override '{override}' is not of the form path.to.field=value")
    path, value = override.split("=", 1)
    keys = [k for k in path.strip().split(".") if k]
    if not keys:
        raise RlkError(f"override '{override}' names no field")
    node = data
    for k in keys[:-1]:
        child = node.get(k)
        if child is None:
            child = node[k] = {}
        elif isinstance(child, str):  # e.g. agent: ppo written as a plain name
            child = node[k] = {"name": child}
        elif not isinstance(child, dict):
            raise RlkError(f"override '{override}': '{k}' is not a section")
        node = child
    node[keys[-1]] = parse_value(value)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML config file's mapping; a missing, unreadable, non-UTF-8 or malformed file is a one-line error."""
    p = Path(path)
    if p.is_dir():
        raise RlkError(f"config file '{p}' is a directory, not a YAML file")
    if not p.exists():
        raise RlkError(f"config file '{p}' does not exist")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise RlkError(f"config file '{p}' is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})") from None
    except OSError as exc:
        raise RlkError(f"config file '{p}' cannot be read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise RlkError(f"config file '{p}' is malformed YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RlkError(f"config file '{p}' must hold a mapping of fields, not {type(data).__name__}")
    return data


DEFAULT_NAMES = {"agent": "ppo", "env": "catch", "backend": "cpu"}


def _normalise(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    if out.get("model") is not None and isinstance(out.get("arch"), dict) and "name" not in out["arch"]:
        out["arch"] = {"name": "trainer", **out["arch"]}  # -o arch.batch_size=... on a model run
    for k in ("agent", "env", "backend", "model", "dataset", "arch"):
        if isinstance(out.get(k), str):
            out[k] = {"name": out[k]}
        elif isinstance(out.get(k), dict) and "name" not in out[k] and k in DEFAULT_NAMES:
            out[k] = {"name": DEFAULT_NAMES[k], **out[k]}
    return out


def build_run_config(data: dict[str, Any]) -> RunConfig:
    try:
        return RunConfig.model_validate(_normalise(data))
    except ValidationError as err:
        raise RlkError(one_line(err)) from None


def _merge_dict_defaults(config_cls: type[BaseModel], options: dict[str, Any]) -> dict[str, Any]:
    """A dict option given in part adds to the field's default dict (``-o agent.loss_weights.aux=0.1``)."""
    out = dict(options)
    for key, value in options.items():
        field = config_cls.model_fields.get(key)
        if field is not None and isinstance(value, dict):
            default = field.get_default(call_default_factory=True)
            if isinstance(default, dict):
                out[key] = {**default, **value}
    return out


def validate_component(component: Component, config_cls: Optional[type[BaseModel]], section: str) -> Optional[BaseModel]:
    """The plugin's typed config from a component's options (defaults filled in); None for a plugin
    without options. Validated here, once per run; errors name the field (``agent.learning_rate``)."""
    options = component.options()
    if config_cls is None:
        if options:
            raise RlkError(f"unknown config field '{section}.{next(iter(options))}' ({section} '{component.name}' has no options)")
        return None
    try:
        return config_cls.model_validate(_merge_dict_defaults(config_cls, options))
    except ValidationError as err:
        raise RlkError(one_line(err, prefix=f"{section}.")) from None


def as_component(name: str, config: Optional[BaseModel]) -> Component:
    """A component holding a typed config's values (JSON-ready, for ``config.json``)."""
    return Component(name=name, **(config.model_dump(mode="json") if config is not None else {}))


def plugin_config(component: Component, config_cls: Optional[type[BaseModel]]) -> Optional[BaseModel]:
    """The plugin's typed config for a component read back from a saved run (scripts; a run being
    built keeps the configs ``resolve`` validated)."""
    return None if config_cls is None else config_cls.model_validate(component.options())
