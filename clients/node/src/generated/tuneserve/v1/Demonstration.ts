// Original file: ../../proto/tuneserve/v1/common.proto


/**
 * An example input and its expected output, shown to the model before the real input.
 */
export interface Demonstration {
  'input'?: (string);
  'output'?: (string);
}

/**
 * An example input and its expected output, shown to the model before the real input.
 */
export interface Demonstration__Output {
  'input': (string);
  'output': (string);
}
