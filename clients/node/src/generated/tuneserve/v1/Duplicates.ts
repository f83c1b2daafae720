// Original file: ../../proto/tuneserve/v1/trainer.proto

/**
 * What to do with examples that are exact copies of an earlier line.
 */
export const Duplicates = {
  /**
   * Drop them with a warning that counts them and names the first few (the default).
   */
  DUPLICATES_UNSPECIFIED: 'DUPLICATES_UNSPECIFIED',
  DUPLICATES_DROP: 'DUPLICATES_DROP',
  /**
   * Refuse the data, naming every duplicate line.
   */
  DUPLICATES_REFUSE: 'DUPLICATES_REFUSE',
  /**
   * Train on them as they are.
   */
  DUPLICATES_KEEP: 'DUPLICATES_KEEP',
} as const;

/**
 * What to do with examples that are exact copies of an earlier line.
 */
export type Duplicates =
  /**
   * Drop them with a warning that counts them and names the first few (the default).
   */
  | 'DUPLICATES_UNSPECIFIED'
  | 0
  | 'DUPLICATES_DROP'
  | 1
  /**
   * Refuse the data, naming every duplicate line.
   */
  | 'DUPLICATES_REFUSE'
  | 2
  /**
   * Train on them as they are.
   */
  | 'DUPLICATES_KEEP'
  | 3

/**
 * What to do with examples that are exact copies of an earlier line.
 */
export type Duplicates__Output = typeof Duplicates[keyof typeof Duplicates]
