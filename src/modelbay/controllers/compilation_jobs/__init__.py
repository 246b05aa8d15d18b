"""The compilation controller: runs compilation jobs (controller.py), staging their compiler's host (staging.py)."""
