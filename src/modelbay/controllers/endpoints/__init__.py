"""Endpoints: the EndpointController (controller.py) and the fleet of slots it keeps per variant (fleet.py)."""
