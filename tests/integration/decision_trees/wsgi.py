"""What gunicorn serves (`wsgi:app`): the predictor's Flask app."""

from predictor import app

__all__ = ["app"]
