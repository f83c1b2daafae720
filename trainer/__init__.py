"""tuneserve trainer service."""

import common  # noqa: F401  # first: it turns the hub off before any module here loads a library
