"""Training jobs: the TrainingController (controller.py) and how outputs are packed and stored (artifacts.py)."""
