"""Asynchronous inference: the worker (controller.py) that empties the queues InvokeEndpointAsync fills."""
