"""CloudWatch alarms: the AlarmController (controller.py) evaluates each alarm as CloudWatch does (evaluation.py,
over the datapoints of datapoints.py) and runs the actions of the state it enters (actions.py)."""
