// Original file: ../../proto/tuneserve/v1/inference.proto

export const DemonstrationSelection = {
  /**
   * Keep demonstrations in the given order until the budget is spent (the default).
   */
  DEMONSTRATION_SELECTION_FIRST: 'DEMONSTRATION_SELECTION_FIRST',
  /**
   * A seeded random choice.
   */
  DEMONSTRATION_SELECTION_RANDOM: 'DEMONSTRATION_SELECTION_RANDOM',
  /**
   * The demonstrations most similar to the query: TF-IDF cosine similarity of their inputs'
   * words to the query's (lexical; no model call, so selection costs microseconds).
   */
  DEMONSTRATION_SELECTION_SIMILAR: 'DEMONSTRATION_SELECTION_SIMILAR',
} as const;

export type DemonstrationSelection =
  /**
   * Keep demonstrations in the given order until the budget is spent (the default).
   */
  | 'DEMONSTRATION_SELECTION_FIRST'
  | 0
  /**
   * A seeded random choice.
   */
  | 'DEMONSTRATION_SELECTION_RANDOM'
  | 1
  /**
   * The demonstrations most similar to the query: TF-IDF cosine similarity of their inputs'
   * words to the query's (lexical; no model call, so selection costs microseconds).
   */
  | 'DEMONSTRATION_SELECTION_SIMILAR'
  | 2

export type DemonstrationSelection__Output = typeof DemonstrationSelection[keyof typeof DemonstrationSelection]
