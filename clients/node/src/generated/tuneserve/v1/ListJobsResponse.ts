// Original file: ../../proto/tuneserve/v1/trainer.proto

import type { Job as _tuneserve_v1_Job, Job__Output as _tuneserve_v1_Job__Output } from '../../tuneserve/v1/Job';

export interface ListJobsResponse {
  'jobs'?: (_tuneserve_v1_Job)[];
}

export interface ListJobsResponse__Output {
  'jobs': (_tuneserve_v1_Job__Output)[];
}
