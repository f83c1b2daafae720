"""Where queued training jobs run, and what becomes of a run that ends.

The runner (trainer.execution.runner) leases a queued job and hands it to the executor the `executor`
setting names: `thread` runs it in the trainer process, `process` in a child process, `kubernetes`
as a batch/v1 Job. All three run the one entry point of trainer.jobs.run_job, so what the tests run
locally is what runs in the cluster. The decisions (what an exit code means, when a run is retried
or failed, what Job to create, what a Job's and pod's state mean for the job) are pure functions in
`decisions`, `kubernetes_job` and `kubernetes_status`, tested without processes or a cluster.

The executors and their decisions import common, trainer.config and trainer.jobs; never the runner
or trainer.api, which drive them. The runner imports the executors and trainer.jobs.
"""
