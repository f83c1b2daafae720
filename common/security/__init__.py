"""Who may call a tuneserve process: bearer tokens with scopes, TLS certificates, and noticing when
their files are rotated. Imports only from `common`."""
