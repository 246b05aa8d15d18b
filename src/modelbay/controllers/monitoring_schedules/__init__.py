"""The monitoring controller: runs Model Monitor's schedules (controller.py), each execution a processing job
(jobs.py), whose results and CloudWatch metrics it reads when the job ends (results.py)."""
