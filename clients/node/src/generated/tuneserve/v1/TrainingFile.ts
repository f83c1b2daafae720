// Original file: ../../proto/tuneserve/v1/trainer.proto

import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../google/protobuf/Timestamp';
import type { Long } from '@grpc/proto-loader';

export interface TrainingFile {
  /**
   * "file-" and 24 hex digits.
   */
  'id'?: (string);
  'filename'?: (string);
  'purpose'?: (string);
  'bytes'?: (number | string | Long);
  'created'?: (_google_protobuf_Timestamp | null);
  /**
   * Non-empty lines.
   */
  'lines'?: (number);
  'sha256'?: (string);
}

export interface TrainingFile__Output {
  /**
   * "file-" and 24 hex digits.
   */
  'id': (string);
  'filename': (string);
  'purpose': (string);
  'bytes': (number);
  'created': (_google_protobuf_Timestamp__Output | null);
  /**
   * Non-empty lines.
   */
  'lines': (number);
  'sha256': (string);
}
