"""The return of a uniformly random policy on a host environment (Atari, MuJoCo), as rlk's env plugin builds it.

    python -m experiments.muesli.random_baseline --env atari-breakout [--episodes 16] [--seed 0]

Runs ``--episodes`` environments side by side, each until its first episode ends (or the env's
``max_episode_steps``), summing the raw rewards the agent would see, and prints mean +- std: the
"random" column of the Sebulba results in the Muesli README.
"""

from __future__ import annotations

import argparse

import numpy as np

from rlk.core.registry import default_registry


def random_returns(env_name: str, episodes: int, seed: int) -> np.ndarray:
    factory = default_registry().get("env", env_name).factory()
    spec = factory.spec
    env = factory.make(episodes, seed=seed)
    env.reset(seed)
    rng = np.random.default_rng(seed)
    total, done = np.zeros(episodes), np.zeros(episodes, bool)
    for _ in range(spec.max_episode_steps):
        if spec.action.kind == "discrete":
            action = rng.integers(0, spec.action.num_values, size=episodes)
        else:
            action = rng.uniform(spec.action.low, spec.action.high, size=(episodes, *spec.action.shape))
        ts = env.step(action)
        total += np.where(done, 0.0, np.asarray(ts.reward))
        done |= np.asarray(ts.last)
        if done.all():
            break
    env.close()
    return total


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--env", required=True)
    p.add_argument("--episodes", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    r = random_returns(a.env, a.episodes, a.seed)
    print(f"{a.env}: random policy return {r.mean():.2f} +- {r.std():.2f} over {a.episodes} episodes")


if __name__ == "__main__":
    main()
