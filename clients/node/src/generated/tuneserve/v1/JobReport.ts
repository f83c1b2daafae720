// Original file: ../../proto/tuneserve/v1/trainer.proto

import type { ReviewSummary as _tuneserve_v1_ReviewSummary, ReviewSummary__Output as _tuneserve_v1_ReviewSummary__Output } from '../../tuneserve/v1/ReviewSummary';

export interface JobReport {
  'jobId'?: (string);
  /**
   * UTF-8 HTML, no external assets.
   */
  'html'?: (string);
  'humanReview'?: (_tuneserve_v1_ReviewSummary | null);
}

export interface JobReport__Output {
  'jobId': (string);
  /**
   * UTF-8 HTML, no external assets.
   */
  'html': (string);
  'humanReview': (_tuneserve_v1_ReviewSummary__Output | null);
}
