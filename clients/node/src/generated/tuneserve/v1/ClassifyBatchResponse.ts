// Original file: ../../proto/tuneserve/v1/tasks.proto

import type { ClassifyResponse as _tuneserve_v1_ClassifyResponse, ClassifyResponse__Output as _tuneserve_v1_ClassifyResponse__Output } from '../../tuneserve/v1/ClassifyResponse';

export interface ClassifyBatchResponse {
  'results'?: (_tuneserve_v1_ClassifyResponse)[];
}

export interface ClassifyBatchResponse__Output {
  'results': (_tuneserve_v1_ClassifyResponse__Output)[];
}
