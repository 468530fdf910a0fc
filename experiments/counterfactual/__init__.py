"""Experiments of the counterfactual plugin: see README.md beside this file."""
