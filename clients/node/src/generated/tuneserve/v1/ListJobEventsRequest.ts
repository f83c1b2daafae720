// Original file: ../../proto/tuneserve/v1/trainer.proto

import type { Long } from '@grpc/proto-loader';

export interface ListJobEventsRequest {
  'id'?: (string);
  'afterSequence'?: (number | string | Long);
  /**
   * At most this many (default and maximum 1000).
   */
  'limit'?: (number);
}

export interface ListJobEventsRequest__Output {
  'id': (string);
  'afterSequence': (number);
  /**
   * At most this many (default and maximum 1000).
   */
  'limit': (number);
}
