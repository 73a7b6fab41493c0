"""Economics: revenue per MW for mining and AI uses of the same power (formulas in model.py)."""
