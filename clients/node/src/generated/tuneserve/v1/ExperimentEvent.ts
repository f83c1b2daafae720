// Original file: ../../proto/tuneserve/v1/adapters.proto


export interface ExperimentEvent {
  'timeUnixS'?: (number | string);
  'kind'?: (string);
  'detail'?: (string);
}

export interface ExperimentEvent__Output {
  'timeUnixS': (number);
  'kind': (string);
  'detail': (string);
}
