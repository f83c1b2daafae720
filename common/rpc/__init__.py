"""The gRPC process both services run in: the server with its interceptors (the one place errors
become status codes), health, reflection, the ports, RPC metrics and the run-until-SIGTERM
life-cycle. Imports only from `common`."""
