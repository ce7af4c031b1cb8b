"""The manufacturing control tower (Django project package).

The Celery app (controltower/celery.py) is loaded when Django starts, by the health app's
`ready()`, and found by `celery -A controltower` as `controltower.celery.app`; not imported
here, so that the pure modules of the ground (controltower.json_values) import without Django or
Celery, as `integrations.contracts` does.
"""
