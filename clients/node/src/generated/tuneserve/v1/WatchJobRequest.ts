// Original file: ../../proto/tuneserve/v1/trainer.proto

import type { Long } from '@grpc/proto-loader';

export interface WatchJobRequest {
  'id'?: (string);
  'afterSequence'?: (number | string | Long);
}

export interface WatchJobRequest__Output {
  'id': (string);
  'afterSequence': (number);
}
