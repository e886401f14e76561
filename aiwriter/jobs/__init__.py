"""Batch AI jobs: one action over many posts, run item by item by Celery workers.

services.py writes (starting, dispatching, cancelling, processing an item, progress) and says how
items run exactly once and how editors go before batch work; selectors.py reads; serializers.py
turns jobs and items into the JSON the API, the dashboard and the progress events send; fields.py
maps each action to the post field it fills and shapes the model's text into that field's value.
"""
