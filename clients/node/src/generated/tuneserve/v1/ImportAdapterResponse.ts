// Original file: ../../proto/tuneserve/v1/adapters.proto


export interface ImportAdapterResponse {
  'name'?: (string);
  'version'?: (number);
  'baseFingerprint'?: (string);
  'rank'?: (number);
  'targetModules'?: (string)[];
}

export interface ImportAdapterResponse__Output {
  'name': (string);
  'version': (number);
  'baseFingerprint': (string);
  'rank': (number);
  'targetModules': (string)[];
}
