// Original file: ../../proto/tuneserve/v1/trainer.proto

import type { JobEvent as _tuneserve_v1_JobEvent, JobEvent__Output as _tuneserve_v1_JobEvent__Output } from '../../tuneserve/v1/JobEvent';

export interface ListJobEventsResponse {
  'events'?: (_tuneserve_v1_JobEvent)[];
  /**
   * More events follow the last one returned.
   */
  'hasMore'?: (boolean);
}

export interface ListJobEventsResponse__Output {
  'events': (_tuneserve_v1_JobEvent__Output)[];
  /**
   * More events follow the last one returned.
   */
  'hasMore': (boolean);
}
