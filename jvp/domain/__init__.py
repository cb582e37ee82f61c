"""Entities: plain dataclasses and the marshmallow schemas that dump them."""
