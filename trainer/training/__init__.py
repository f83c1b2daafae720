"""Training an adapter: reading and checking data (data), batches (batching) and the seeded,
checkpointed, resumable LoRA loop (loop). Imports config and common only."""
