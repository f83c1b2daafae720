"""LoRA adapters on the server: checking and loading versions from the store, which version answers
a name, hot-swaps, the rollout policies in force, the two-tier cache policy, the batched LoRA math and the device slots.
Imports only `common`; the engine is reached through the `SlotHolder` protocol."""
