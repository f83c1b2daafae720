// Original file: ../../proto/tuneserve/v1/trainer.proto

import type { Review as _tuneserve_v1_Review, Review__Output as _tuneserve_v1_Review__Output } from '../../tuneserve/v1/Review';

export interface ReviewJobRequest {
  'id'?: (string);
  'reviews'?: (_tuneserve_v1_Review)[];
}

export interface ReviewJobRequest__Output {
  'id': (string);
  'reviews': (_tuneserve_v1_Review__Output)[];
}
