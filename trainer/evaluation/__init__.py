"""Judging an adapter: the holdout evaluation against zero-shot and k-shot prompts (holdout), its
metrics as pure functions (metrics), people's reviews (human_review) and the HTML report.
Imports training (data and the model's steps), config and common."""
