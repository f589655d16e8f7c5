"""Celery workers: the carriage of the hub's jobs. Import ``workers.app`` to get the app."""
