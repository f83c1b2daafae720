// Original file: ../../proto/tuneserve/v1/trainer.proto

import type { JobState as _tuneserve_v1_JobState, JobState__Output as _tuneserve_v1_JobState__Output } from '../../tuneserve/v1/JobState';

export interface ListJobsRequest {
  /**
   * Only jobs in these states; empty: all.
   */
  'states'?: (_tuneserve_v1_JobState)[];
  'limit'?: (number);
}

export interface ListJobsRequest__Output {
  /**
   * Only jobs in these states; empty: all.
   */
  'states': (_tuneserve_v1_JobState__Output)[];
  'limit': (number);
}
