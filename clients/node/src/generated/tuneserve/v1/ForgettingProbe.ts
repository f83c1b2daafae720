// Original file: ../../proto/tuneserve/v1/trainer.proto


export interface ForgettingProbe {
  'name'?: (string);
  'questions'?: (number);
  'baseAccuracy'?: (number | string);
  'adapterAccuracy'?: (number | string);
}

export interface ForgettingProbe__Output {
  'name': (string);
  'questions': (number);
  'baseAccuracy': (number);
  'adapterAccuracy': (number);
}
