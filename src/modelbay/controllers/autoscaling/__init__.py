"""Application Auto Scaling: the AutoscalingController (controller.py) runs scaling policies when their alarms call
them, and again every period while an alarm stays in its state, applies scheduled actions and keeps each target's
capacity within its bounds; capacity.py says what a policy asks for."""
