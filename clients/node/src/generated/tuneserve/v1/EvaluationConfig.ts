// Original file: ../../proto/tuneserve/v1/trainer.proto


export interface EvaluationConfig {
  /**
   * k of the k-shot in-context baseline.
   */
  'iclShots'?: (number);
  'maxHoldout'?: (number);
  /**
   * Questions of the general-knowledge forgetting probe; 0 skips it.
   */
  'forgettingProbe'?: (number);
  '_iclShots'?: "iclShots";
  '_maxHoldout'?: "maxHoldout";
  '_forgettingProbe'?: "forgettingProbe";
}

export interface EvaluationConfig__Output {
  /**
   * k of the k-shot in-context baseline.
   */
  'iclShots'?: (number);
  'maxHoldout'?: (number);
  /**
   * Questions of the general-knowledge forgetting probe; 0 skips it.
   */
  'forgettingProbe'?: (number);
  '_iclShots'?: "iclShots";
  '_maxHoldout'?: "maxHoldout";
  '_forgettingProbe'?: "forgettingProbe";
}
