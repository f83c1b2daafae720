// Original file: ../../proto/tuneserve/v1/trainer.proto


export interface LabelMetrics {
  'label'?: (string);
  'precision'?: (number | string);
  'recall'?: (number | string);
  'f1'?: (number | string);
  'support'?: (number);
}

export interface LabelMetrics__Output {
  'label': (string);
  'precision': (number);
  'recall': (number);
  'f1': (number);
  'support': (number);
}
