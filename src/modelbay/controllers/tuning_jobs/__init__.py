"""Tuning jobs: the TuningJobController (controller.py) and the search over hyperparameters (search.py, over
ranges.py and stopping.py)."""
