"""tuneserve trainer service."""
