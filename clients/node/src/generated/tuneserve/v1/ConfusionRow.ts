// Original file: ../../proto/tuneserve/v1/trainer.proto


export interface ConfusionRow {
  'counts'?: (number)[];
}

export interface ConfusionRow__Output {
  'counts': (number)[];
}
