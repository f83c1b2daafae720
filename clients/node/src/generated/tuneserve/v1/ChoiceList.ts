// Original file: ../../proto/tuneserve/v1/common.proto


export interface ChoiceList {
  'choices'?: (string)[];
}

export interface ChoiceList__Output {
  'choices': (string)[];
}
