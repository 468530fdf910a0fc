"""Counterfactual credit assignment (Mesnard et al. 2021): future-conditional baselines and critics."""
