"""``rlk play RUN_DIR --opponent random --games 100``: a trained two-player agent against a uniformly
random legal player (issue 6: MuZero on Go 9x9 should win >= 90% of 100 games).

The agent plays black (moves first) in the even games and white in the odd ones, greedily (its
``eval_act``: search at evaluation unless ``search_at_eval=false``); all games run at once, compiled.
A game's result is read from the movers' rewards (``TimeStep.reward`` is the reward of the player who
just moved, ``rlk.plugins.envs.pgx_adapter``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from rlk.core.errors import RlkError
from rlk.core.interfaces import Agent, Environment
from rlk.learn.evaluate import evaluate, random_opponent

OPPONENT_RULES = ("run", "standard")  # whose legal moves the random player draws from (``play_match``)


def play_match(agent: Agent, env: Environment, params: Any, games: int, seed: int = 0,
               true_state_as_actor_state: bool = False, opponent_rules: str = "run", per_game: bool = False) -> dict[str, Any]:
    """``games`` games of ``agent`` (greedy) against a uniformly random legal player.

    ``true_state_as_actor_state``: the agent's actor state is the game's own state before each of its
    moves (MuZero with ``simulator='env'``: the search starts from the true position, which the
    agent's own copy cannot follow when the opponent moves too).
    ``opponent_rules``: ``"run"``, the random player draws from the env's legal moves (its rule variants
    included); ``"standard"``, from the game's own legal moves (``env.standard_legal_action_mask``),
    while the agent keeps the env's: where the variants only remove moves (Go's ``pass_after_moves``,
    ``no_eye_filling``) every game is then a game of standard rules against a standard random player.
    Returns wins, losses, draws, the win rate, the games the agent played black, and the mean game length;
    ``per_game``: also each game's summed reward of the agent (``outcomes``) and whether it played black.
    """
    spec = env.spec
    if spec.num_players != 2 or not spec.has_legal_action_mask:
        raise RlkError(f"rlk play needs a two-player game with legal-action masks; env '{spec.name}' is not one")
    if opponent_rules not in OPPONENT_RULES:
        raise RlkError(f"--opponent-rules must be run or standard, got '{opponent_rules}'")
    standard_mask = getattr(env, "standard_legal_action_mask", None)
    if opponent_rules == "standard" and standard_mask is None:
        raise RlkError(f"--opponent-rules standard: env '{spec.name}' has no standard legal-action mask to draw from")
    opponent = random_opponent(None if opponent_rules == "run" else standard_mask)
    run = jax.jit(lambda params, key: evaluate(agent, params, env, games, key, opponent,
                                               env_state_as_actor_state=true_state_as_actor_state))
    outcome, moves, agent_first = jax.device_get(run(params, jax.random.PRNGKey(seed)))
    wins, losses = int(np.sum(outcome > 0)), int(np.sum(outcome < 0))
    return {"games": games, "wins": wins, "losses": losses, "draws": games - wins - losses,
            "win_rate": wins / games, "agent_black": int(np.sum(agent_first)),
            "wins_as_black": int(np.sum((outcome > 0) & agent_first)),
            "wins_as_white": int(np.sum((outcome > 0) & ~agent_first)), "mean_moves": float(np.mean(moves)),
            **({"outcomes": outcome.tolist(), "agent_black_games": agent_first.tolist()} if per_game else {})}


def play_run(run_dir: Path, games: int, seed: int = 0, opponent: str = "random", standard_rules: bool = False,
             overrides: Sequence[str] = (), run_seed: int | None = None, opponent_rules: str = "run") -> dict[str, Any]:
    """Plays the agent saved in ``run_dir``'s last checkpoint (the training seed ``run_seed`` of a
    ``--num-seeds`` run; by default its first) against ``opponent``,
    under the run's env options, or the game's defaults with ``standard_rules`` (e.g. a run trained
    with Go's ``pass_after_moves`` rule variant then plays pgx's standard Go).

    ``overrides`` (``agent.field=value`` or ``env.field=value``) change the saved config for the match,
    e.g. ``agent.eval_simulations=64`` (the planning study's search budget at evaluation).
    ``opponent_rules``: see ``play_match``."""
    from rlk.core.run import load_run_config, resolve, restored_run

    if opponent != "random":
        raise RlkError(f"unknown opponent '{opponent}' (known: random)")
    if opponent_rules not in OPPONENT_RULES:
        raise RlkError(f"--opponent-rules must be run or standard, got '{opponent_rules}'")
    saved = load_run_config(run_dir, overrides, changeable=("agent", "env"))  # the flags are checked before any restore
    seeds = [saved.seed + i for i in range(saved.num_seeds)]
    if run_seed is None:
        run_seed = seeds[0]
    if run_seed not in seeds:
        raise RlkError(f"--run-seed {run_seed}: the run trained seeds {seeds}")
    config, _, state = restored_run(run_dir, overrides, changeable=("agent", "env"))
    resolved = resolve(config)
    env_config = resolved.settings["env"]
    if standard_rules and env_config is not None:
        env_config = type(env_config)()
    if env_config is not None and getattr(env_config, "score_reward", 0.0):
        env_config = env_config.model_copy(update={"score_reward": 0.0})  # a match is scored by the game's result
    env = resolved.env.factory(env_config)
    if not isinstance(env, Environment):
        raise RlkError(f"rlk play needs a JAX environment; env '{config.env.name}' is not one")
    agent_config = resolved.settings["agent"]
    agent = resolved.agent.factory(agent_config, env.spec, None, resolved.losses)
    index = seeds.index(run_seed)
    params = jax.tree.map(lambda x: jnp.asarray(x)[index], jax.device_get(state.learner.params))
    true_state = getattr(agent_config, "simulator", "model") == "env"
    result = play_match(agent, env, params, games, seed, true_state_as_actor_state=true_state, opponent_rules=opponent_rules)
    return {"run": str(run_dir), "run_seed": run_seed, "agent": config.agent.name, "env": config.env.name, "opponent": opponent,
            "standard_rules": standard_rules, "opponent_rules": opponent_rules, "overrides": list(overrides), **result}
