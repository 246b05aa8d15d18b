"""The processing controller: runs processing jobs (controller.py), staging their hosts (staging.py)."""
