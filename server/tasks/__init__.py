"""Task endpoints: where tasks come from (task files, adapter manifests), how each is backed, and
choosing few-shot demonstrations. Imports `common`."""
