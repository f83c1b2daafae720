// Original file: ../../proto/tuneserve/v1/trainer.proto


export interface GetJobRequest {
  'id'?: (string);
}

export interface GetJobRequest__Output {
  'id': (string);
}
