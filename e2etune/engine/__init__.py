"""The engine: search space, trials, objectives, oracle lifecycle, store and tuners."""
