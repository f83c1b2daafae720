"""Live experiments between adapter versions: the durable record of requests served under a
rollout and of callers' feedback, the statistics and report that compare the arms, and the guard
that ends a split whose canary does worse. Imports only `common`; the services feed it."""
