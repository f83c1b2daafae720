// Original file: ../../proto/tuneserve/v1/common.proto


/**
 * Server-side timings of one request, in milliseconds.
 */
export interface Timings {
  /**
   * From arrival to joining the running batch.
   */
  'queueMs'?: (number | string);
  /**
   * From arrival to the first generated token.
   */
  'timeToFirstTokenMs'?: (number | string);
  /**
   * From arrival to the end of the generation.
   */
  'totalMs'?: (number | string);
}

/**
 * Server-side timings of one request, in milliseconds.
 */
export interface Timings__Output {
  /**
   * From arrival to joining the running batch.
   */
  'queueMs': (number);
  /**
   * From arrival to the first generated token.
   */
  'timeToFirstTokenMs': (number);
  /**
   * From arrival to the end of the generation.
   */
  'totalMs': (number);
}
