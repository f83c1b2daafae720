// Original file: ../../proto/tuneserve/v1/adapters.proto


export interface ClearRolloutRequest {
  'name'?: (string);
}

export interface ClearRolloutRequest__Output {
  'name': (string);
}
