"""rlk's Python API, for notebooks and scripts: train a run, load one, export its policy, load a policy.

>>> import rlk
>>> run_dir, summary = rlk.train(agent="ppo", env="catch", steps=20_000, run_dir="runs/catch")  # doctest: +SKIP
>>> run = rlk.load_run("runs/catch")                    # config, metric rows, summary, policy
>>> run.summary["final_return"], run.metrics[-1]["episode_return"]
>>> rlk.export("runs/catch", "policies/catch")          # what `rlk export` writes
>>> policy = rlk.load_policy("policies/catch")          # needs neither the run nor rlk's plugins
>>> policy.act(observation)                             # numpy in, numpy out; one observation or [N, ...]

Heavy modules (jax, the plugins) are imported by these functions when called, never by ``import rlk``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union

from rlk.core.errors import RlkError

if TYPE_CHECKING:
    from rlk.core.config import RunConfig
    from rlk.nn.policy import Policy

PathLike = Union[str, Path]


def train(config: Union["RunConfig", dict, None] = None, *, overrides: Sequence[str] = (), progress: bool = False,
          **fields: Any) -> tuple[Path, dict[str, Any]]:
    """Trains a run; returns ``(run folder, summary)`` (the summary is also ``summary.json``).

    ``config``: a ``RunConfig`` or its dict; ``fields``: ``RunConfig`` fields on top of it (``agent="ppo"``,
    ``env={"name": "catch", "rows": 12}``, ``steps=20_000``, ``num_seeds=3``, ``run_dir="runs/x"``);
    ``overrides``: ``-o`` strings (``"agent.learning_rate=3e-4"``); ``progress``: draw the progress bar.

    >>> run_dir, summary = rlk.train(env="catch", steps=20_000, overrides=["agent.learning_rate=1e-3"])  # doctest: +SKIP
    """
    from rlk.core import run as run_mod
    from rlk.core.config import RunConfig, apply_override, build_run_config

    data = config.model_dump(mode="json", exclude_unset=True) if isinstance(config, RunConfig) else dict(config or {})
    data.update(fields)
    for o in overrides:
        apply_override(data, o)
    console = None
    if progress:
        from rich.console import Console

        console = Console(stderr=True)
    return run_mod.train(build_run_config(data), console=console)


@dataclasses.dataclass(frozen=True)
class LoadedRun:
    """A finished run's folder, read back: ``config`` (config.json), ``metrics`` (metrics.jsonl's rows,
    one per seed and logging step), ``summary`` (summary.json, ``{}`` while the run has not finished);
    ``policy()`` rebuilds one seed's greedy policy from the last checkpoint (a ``Policy``)."""

    path: Path
    config: dict[str, Any]
    metrics: list[dict[str, Any]]
    summary: dict[str, Any]

    def policy(self, seed_index: int = 0) -> "Policy":
        from rlk.nn.policy import Policy, from_arrays

        doc, params = _export_arrays(self.path, seed_index)
        return Policy(doc["network"], from_arrays(doc["network"], params), doc)


def load_run(run_dir: PathLike) -> LoadedRun:
    """Reads a run folder (config, metric rows, summary); ``.policy()`` loads its policy.

    >>> run = rlk.load_run("runs/catch")                       # doctest: +SKIP
    >>> [r["episode_return"] for r in run.metrics if r["seed"] == 0]
    """
    path = Path(run_dir)
    if not (path / "config.json").is_file():
        raise RlkError(f"run folder '{path}' holds no config.json")
    metrics_path, summary_path = path / "metrics.jsonl", path / "summary.json"
    metrics = [json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()] if metrics_path.is_file() else []
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    return LoadedRun(path, json.loads((path / "config.json").read_text()), metrics, summary)


def load_policy(policy_dir: PathLike) -> "Policy":
    """The greedy policy ``rlk export`` wrote in ``policy_dir``: ``policy.act(obs) -> action``.

    Loads numpy arrays and a small JAX network (``rlk.nn.policy``); neither the run nor rlk's plugins.

    >>> policy = rlk.load_policy("policies/catch")          # doctest: +SKIP
    >>> policy.act(np.zeros((10, 5), np.float32))           # one observation: one action
    >>> policy.act(np.zeros((32, 10, 5), np.float32))       # a batch: [32] actions
    """
    from rlk.core.export import read_policy
    from rlk.nn.policy import Policy, from_arrays

    doc, params = read_policy(Path(policy_dir))
    return Policy(doc["network"], from_arrays(doc["network"], params), doc)


def export(run_dir: PathLike, out_dir: PathLike, seed_index: int = 0) -> Path:
    """Writes the greedy policy of seed ``seed_index`` of the run in ``run_dir`` (its last checkpoint)
    into ``out_dir``: ``policy.json`` (the network's description) and ``params.npz`` (arrays by path).

    >>> rlk.export("runs/catch", "policies/catch")           # doctest: +SKIP
    """
    from rlk.core.export import write_policy

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise RlkError(f"--out '{out}' is a file, not a folder")
    doc, params = _export_arrays(Path(run_dir), seed_index)
    write_policy(out, doc.pop("network"), params, doc)
    return out


def _export_arrays(run_dir: Path, seed_index: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(policy.json's document without format, arrays by path)`` of one seed of a run, checked: the
    rebuilt network's greedy actions equal the agent's own on a batch of observations."""
    import jax
    import numpy as np

    from rlk.core.run import restored_run
    from rlk.nn.policy import arrays, from_arrays

    _check_exportable(run_dir, seed_index)
    config, program, state = restored_run(run_dir)
    try:
        agent = program.agent
        params = jax.tree.map(lambda x: x[seed_index], jax.device_get(state.learner.params))
        network, net = agent.policy_network(params)
        exported = arrays(net)
        _check_same_actions(agent, params, network, from_arrays(network, exported))
    finally:
        program.close()
    info = {"agent": config.agent.name, "env": config.env.name, "run": str(run_dir), "seed": config.seed + seed_index,
            "env_steps": _env_steps(run_dir), "network": network}
    return info, {k: np.asarray(v) for k, v in exported.items()}


def _check_exportable(run_dir: Path, seed_index: int) -> None:
    """A one-line error, from the run's config and before its checkpoint is read, where it cannot be exported."""
    from rlk.core.run import Run, load_run_config, resolve

    _check_run_dir(run_dir)
    config = load_run_config(run_dir)
    if config.model is not None:
        raise RlkError(f"rlk export needs an agent run; '{run_dir}' trained model '{config.model.name}'")
    if not 0 <= seed_index < config.num_seeds:
        raise RlkError(f"--seed-index {seed_index}: the run has {config.num_seeds} seed(s), 0 to {config.num_seeds - 1}")
    program = Run(resolve(config), run_dir).build()
    try:
        if program.agent.policy_network is None:
            raise RlkError(f"agent '{config.agent.name}' has no exportable policy network "
                           "(agents that declare Agent.policy_network can be exported: ppo, vtrace)")
    finally:
        program.close()


def _check_run_dir(run_dir: Path) -> None:
    if not run_dir.is_dir():
        raise RlkError(f"run folder '{run_dir}' does not exist")


def _env_steps(run_dir: Path) -> Optional[int]:
    summary = run_dir / "summary.json"
    return json.loads(summary.read_text()).get("env_steps") if summary.is_file() else None


def _check_same_actions(agent: Any, params: Any, network: dict[str, Any], net: Any, n: int = 64) -> None:
    """The exported network acts as the agent's ``eval_act`` does, on ``n`` random observations."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from rlk.core.types import TimeStep
    from rlk.nn.policy import Policy

    obs_spec = network["observation"]
    shape = (n, *obs_spec["shape"])
    rng = np.random.default_rng(0)
    obs = (rng.integers(0, 256, shape) if obs_spec["dtype"] == "uint8" else rng.random(shape)).astype(obs_spec["dtype"])
    mask = None
    if network["legal_action_mask"]:
        mask = rng.random((n, network["action"]["num_values"])) < 0.7
        mask[:, 0] = True
    zeros = jnp.zeros((n,), jnp.float32)
    ts = TimeStep(jnp.asarray(obs), zeros, zeros, jnp.zeros((n,), bool), None if mask is None else jnp.asarray(mask))
    expected, _, _ = jax.jit(agent.eval_act)(params, agent.initial_actor_state(n), ts, jax.random.PRNGKey(0))
    got = Policy(network, net).act(obs, mask)
    if network["action"]["kind"] == "box":  # the policy clips its mean to the bounds, as the environment does
        expected = np.clip(expected, network["action"]["low"], network["action"]["high"])
    if not np.allclose(np.asarray(expected), got, rtol=1e-5, atol=1e-6):
        raise RlkError("export check failed: the rebuilt network's greedy actions differ from the agent's (a bug: please report it)")


def video(run_dir: PathLike, path: PathLike, seed_index: int = 0, seed: int = 12_345) -> dict[str, Any]:
    """Renders one greedy episode of seed ``seed_index`` of the run in ``run_dir`` into ``path`` (.gif, or
    .mp4 with imageio-ffmpeg); returns ``{"frames": T, "return": R, "path": ...}``.

    >>> rlk.video("runs/catch", "catch.gif")                   # doctest: +SKIP
    """
    import jax

    from rlk.core.run import restored_run
    from rlk.core.video import check_video_path, greedy_episode, write_video

    path = Path(path)
    check_video_path(path)
    _check_run_dir(Path(run_dir))
    config, program, state = restored_run(Path(run_dir))
    try:
        env = getattr(program, "raw_env", None)
        if program.info.kind != "agent" or env is None:
            what = f"model '{config.model.name}'" if program.info.kind != "agent" else f"env '{config.env.name}' on the host"
            raise RlkError(f"--video needs an agent run on a JAX environment; '{run_dir}' trained {what}")
        if not 0 <= seed_index < config.num_seeds:
            raise RlkError(f"--seed-index {seed_index}: the run has {config.num_seeds} seed(s), 0 to {config.num_seeds - 1}")
        params = jax.tree.map(lambda x: x[seed_index], jax.device_get(state.learner.params))
        frames, total = greedy_episode(program.agent, params, env, config.env.name, seed)
    finally:
        program.close()
    write_video(frames, path)
    return {"frames": int(frames.shape[0]), "return": total, "path": str(path)}
