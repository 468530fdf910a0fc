"""Causally correct partial models (Rezende et al. 2020): the FuzzyBear environment (``fuzzy-bear``),
naive and backdoor-conditioned partial models, and a planner; ``rlk partial-models`` runs the experiment."""

from __future__ import annotations

from rlk.core.hookspecs import hookimpl
from rlk.plugins.partial_models.env import FuzzyBear, FuzzyBearConfig


@hookimpl
def rlk_register_envs(register):
    register("fuzzy-bear", FuzzyBear, config=FuzzyBearConfig,
             description="FuzzyBear (Rezende 2020): stay home or meet a hidden teddy/grizzly; pure JAX")


@hookimpl
def rlk_register_commands(app):
    import typer

    @app.command("partial-models")
    def partial_models(
        seeds: int = typer.Option(10, min=1, help="seeds (each: new data, three models trained)"),
        out: str = typer.Option("figures", help="folder for partial_models_values.png and the JSON results"),
        quick: bool = typer.Option(False, help="CI-sized: 2 seeds, 600 gradient steps"),
    ):
        """FuzzyBear: naive vs causally correct partial models (value of new policies, planning), over seeds."""
        from rlk.plugins.partial_models.experiment import main

        main(["--seeds", str(seeds), "--out", out] + (["--quick"] if quick else []))
