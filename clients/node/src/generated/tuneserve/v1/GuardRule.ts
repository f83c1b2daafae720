// Original file: ../../proto/tuneserve/v1/adapters.proto


export interface GuardRule {
  /**
   * Requests (for accuracy: labelled feedback) each arm needs before it is judged; 0: 50.
   */
  'minSamples'?: (number);
  /**
   * Most a canary's error rate may exceed the control's (0.05 = 5 points); unset: 0.05.
   */
  'maxErrorRateIncrease'?: (number | string);
  /**
   * Most a canary's median latency may be, as a multiple of the control's; unset: 2.
   */
  'maxLatencyRatio'?: (number | string);
  /**
   * Most a canary's feedback accuracy may fall below the control's when significant; unset: 0.05.
   */
  'maxAccuracyDrop'?: (number | string);
  '_maxErrorRateIncrease'?: "maxErrorRateIncrease";
  '_maxLatencyRatio'?: "maxLatencyRatio";
  '_maxAccuracyDrop'?: "maxAccuracyDrop";
}

export interface GuardRule__Output {
  /**
   * Requests (for accuracy: labelled feedback) each arm needs before it is judged; 0: 50.
   */
  'minSamples': (number);
  /**
   * Most a canary's error rate may exceed the control's (0.05 = 5 points); unset: 0.05.
   */
  'maxErrorRateIncrease'?: (number);
  /**
   * Most a canary's median latency may be, as a multiple of the control's; unset: 2.
   */
  'maxLatencyRatio'?: (number);
  /**
   * Most a canary's feedback accuracy may fall below the control's when significant; unset: 0.05.
   */
  'maxAccuracyDrop'?: (number);
  '_maxErrorRateIncrease'?: "maxErrorRateIncrease";
  '_maxLatencyRatio'?: "maxLatencyRatio";
  '_maxAccuracyDrop'?: "maxAccuracyDrop";
}
