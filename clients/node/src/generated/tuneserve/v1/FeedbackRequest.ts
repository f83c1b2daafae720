// Original file: ../../proto/tuneserve/v1/inference.proto

import type { Thumb as _tuneserve_v1_Thumb, Thumb__Output as _tuneserve_v1_Thumb__Output } from '../../tuneserve/v1/Thumb';

export interface FeedbackRequest {
  /**
   * The request_id of the answer judged (from its response, or its x-request-id metadata: in a
   * stream's headers, in a unary call's trailers).
   */
  'requestId'?: (string);
  /**
   * The correct answer (a label, or the expected text), compared with the answer ignoring case.
   */
  'label'?: (string);
  /**
   * 1 (bad) to 5 (good).
   */
  'rating'?: (number);
  'thumb'?: (_tuneserve_v1_Thumb);
  '_label'?: "label";
  '_rating'?: "rating";
}

export interface FeedbackRequest__Output {
  /**
   * The request_id of the answer judged (from its response, or its x-request-id metadata: in a
   * stream's headers, in a unary call's trailers).
   */
  'requestId': (string);
  /**
   * The correct answer (a label, or the expected text), compared with the answer ignoring case.
   */
  'label'?: (string);
  /**
   * 1 (bad) to 5 (good).
   */
  'rating'?: (number);
  'thumb': (_tuneserve_v1_Thumb__Output);
  '_label'?: "label";
  '_rating'?: "rating";
}
