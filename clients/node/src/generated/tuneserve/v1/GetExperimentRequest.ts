// Original file: ../../proto/tuneserve/v1/adapters.proto


export interface GetExperimentRequest {
  'name'?: (string);
}

export interface GetExperimentRequest__Output {
  'name': (string);
}
