// Original file: ../../proto/tuneserve/v1/trainer.proto

export const OverLength = {
  /**
   * Refuse the data when an example is over max_seq_len (the default).
   */
  OVER_LENGTH_UNSPECIFIED: 'OVER_LENGTH_UNSPECIFIED',
  OVER_LENGTH_REFUSE: 'OVER_LENGTH_REFUSE',
  /**
   * Cut the example's input so that it fits.
   */
  OVER_LENGTH_TRUNCATE: 'OVER_LENGTH_TRUNCATE',
  OVER_LENGTH_DROP: 'OVER_LENGTH_DROP',
} as const;

export type OverLength =
  /**
   * Refuse the data when an example is over max_seq_len (the default).
   */
  | 'OVER_LENGTH_UNSPECIFIED'
  | 0
  | 'OVER_LENGTH_REFUSE'
  | 1
  /**
   * Cut the example's input so that it fits.
   */
  | 'OVER_LENGTH_TRUNCATE'
  | 2
  | 'OVER_LENGTH_DROP'
  | 3

export type OverLength__Output = typeof OverLength[keyof typeof OverLength]
