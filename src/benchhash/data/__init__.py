"""Data shipped with benchhash: market snapshots, ASICs, GPU systems (each figure sourced, dated)."""
