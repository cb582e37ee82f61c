"""The domain model: typed views and specs (dataclasses) that the gateway returns and services, api and tests
share; the marshmallow schemas that dump them; the one table of error codes (errors.py)."""
