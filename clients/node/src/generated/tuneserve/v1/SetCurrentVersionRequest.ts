// Original file: ../../proto/tuneserve/v1/adapters.proto


export interface SetCurrentVersionRequest {
  'name'?: (string);
  'version'?: (number);
}

export interface SetCurrentVersionRequest__Output {
  'name': (string);
  'version': (number);
}
