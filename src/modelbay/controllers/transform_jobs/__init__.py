"""Batch transform jobs: the TransformController (controller.py) and the Transformer that runs a job."""
