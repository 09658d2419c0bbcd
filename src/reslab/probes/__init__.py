"""Measurements any model can use: each takes a model and data and returns plain numbers.

Experiments import these; a user can call them on their own model, as long as it exposes
``model.blocks`` (its residual units, in order).
"""
