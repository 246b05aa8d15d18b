"""Edge packaging jobs: the EdgePackagingController (controller.py) and the packages it builds (packages.py)."""
