"""Causally correct partial models (Rezende et al. 2020)."""
