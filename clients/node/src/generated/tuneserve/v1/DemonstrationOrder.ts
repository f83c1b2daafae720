// Original file: ../../proto/tuneserve/v1/inference.proto

export const DemonstrationOrder = {
  /**
   * The selected demonstrations keep their given order (the default).
   */
  DEMONSTRATION_ORDER_AS_GIVEN: 'DEMONSTRATION_ORDER_AS_GIVEN',
  /**
   * The most similar demonstration comes last, right before the query.
   */
  DEMONSTRATION_ORDER_MOST_SIMILAR_LAST: 'DEMONSTRATION_ORDER_MOST_SIMILAR_LAST',
} as const;

export type DemonstrationOrder =
  /**
   * The selected demonstrations keep their given order (the default).
   */
  | 'DEMONSTRATION_ORDER_AS_GIVEN'
  | 0
  /**
   * The most similar demonstration comes last, right before the query.
   */
  | 'DEMONSTRATION_ORDER_MOST_SIMILAR_LAST'
  | 1

export type DemonstrationOrder__Output = typeof DemonstrationOrder[keyof typeof DemonstrationOrder]
