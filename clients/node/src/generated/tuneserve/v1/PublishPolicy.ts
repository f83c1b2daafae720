// Original file: ../../proto/tuneserve/v1/trainer.proto

export const PublishPolicy = {
  /**
   * Publish every finished adapter.
   */
  PUBLISH_POLICY_UNSPECIFIED: 'PUBLISH_POLICY_UNSPECIFIED',
  PUBLISH_POLICY_ALWAYS: 'PUBLISH_POLICY_ALWAYS',
  /**
   * Publish only when the adapter beats the base model's k-shot prompting on the holdout.
   */
  PUBLISH_POLICY_IF_BEATS_ICL: 'PUBLISH_POLICY_IF_BEATS_ICL',
  PUBLISH_POLICY_NEVER: 'PUBLISH_POLICY_NEVER',
} as const;

export type PublishPolicy =
  /**
   * Publish every finished adapter.
   */
  | 'PUBLISH_POLICY_UNSPECIFIED'
  | 0
  | 'PUBLISH_POLICY_ALWAYS'
  | 1
  /**
   * Publish only when the adapter beats the base model's k-shot prompting on the holdout.
   */
  | 'PUBLISH_POLICY_IF_BEATS_ICL'
  | 2
  | 'PUBLISH_POLICY_NEVER'
  | 3

export type PublishPolicy__Output = typeof PublishPolicy[keyof typeof PublishPolicy]
