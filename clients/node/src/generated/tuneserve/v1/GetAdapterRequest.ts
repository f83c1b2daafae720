// Original file: ../../proto/tuneserve/v1/adapters.proto


export interface GetAdapterRequest {
  'name'?: (string);
}

export interface GetAdapterRequest__Output {
  'name': (string);
}
