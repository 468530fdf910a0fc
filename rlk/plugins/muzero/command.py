"""The ``rlk play`` command, light: the CLI adds it on every start, so ``play`` (jax) imports only when it runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer


def register_play_command(app: Any) -> None:
    """Adds ``rlk play`` to the Typer app; the match (jax) imports when the command runs."""

    @app.command("play")
    def play(
        run_dir: Path = typer.Argument(..., help="a run folder (a two-player game such as go_9x9)"),
        opponent: str = typer.Option("random", help="the opponent: random (uniform over legal moves)"),
        games: int = typer.Option(100, min=1, help="games; the agent plays black in half of them"),
        seed: int = typer.Option(0, help="random seed of the match"),
        run_seed: int = typer.Option(None, help="which training seed of a --num-seeds run plays (default: its first)"),
        standard_rules: bool = typer.Option(False, "--standard-rules",
                                            help="the game's default rules (env options off), not the run's"),
        opponent_rules: str = typer.Option("run", help="run: the opponent draws from the run's legal moves (its rule "
                                                       "variants); standard: from the game's own, while the agent "
                                                       "keeps the run's (e.g. Go's no_eye_filling)"),
        as_json: bool = typer.Option(False, "--json", help="print JSON"),
        override: list[str] = typer.Option([], "-o", "--override",
                                           help="agent.field=value or env.field=value for the match, e.g. "
                                                "agent.eval_simulations=64 (repeatable)"),
    ):
        """Play a trained two-player agent against an opponent and print its win rate."""
        from rlk.plugins.muzero.play import play_run

        result = play_run(run_dir, games, seed, opponent, standard_rules, override, run_seed, opponent_rules)
        if as_json:
            print(json.dumps(result))
        else:
            print(f"{result['agent']} ({run_dir}) vs {opponent} on {result['env']}: win rate {result['win_rate']:.2f} "
                  f"({result['wins']} wins, {result['losses']} losses, {result['draws']} draws in {games} games; "
                  f"as black {result['wins_as_black']}/{result['agent_black']}, "
                  f"as white {result['wins_as_white']}/{games - result['agent_black']}; "
                  f"{result['mean_moves']:.0f} moves per game)")
