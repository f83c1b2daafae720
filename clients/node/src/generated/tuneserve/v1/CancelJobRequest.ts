// Original file: ../../proto/tuneserve/v1/trainer.proto


export interface CancelJobRequest {
  'id'?: (string);
}

export interface CancelJobRequest__Output {
  'id': (string);
}
