"""Experiments of the partial_models plugin: see README.md beside this file."""
