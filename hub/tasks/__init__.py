"""Background work as plain async functions, carried by Celery or by the in-process runner."""
