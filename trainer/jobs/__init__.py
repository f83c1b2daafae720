"""One training job: its record in the database (records), its directory (workdir) and what outlives
a run (storage), its run from data to published adapter (job, publishing) and the entry point every
executor starts (run_job). Imports evaluation, training, config and common; never execution or the API."""
