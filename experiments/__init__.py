"""Experiment, figure, sweep and diagnostic scripts of the papers rlk implements (not installed; imports rlk, never imported by it)."""
