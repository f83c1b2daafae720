"""The trainer's gRPC service and what it alone keeps: the Trainer service (jobs, their events,
reports and reviews) and the files uploaded for training (files_db). Imports the job records,
execution (to queue and cancel runs), evaluation (reviews) and common; never the assembly (app)."""
