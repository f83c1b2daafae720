// Original file: ../../proto/tuneserve/v1/common.proto

export const ToolChoiceMode = {
  /**
   * AUTO when tools are given, NONE otherwise.
   */
  TOOL_CHOICE_MODE_UNSPECIFIED: 'TOOL_CHOICE_MODE_UNSPECIFIED',
  /**
   * Plain text; the tools are not shown to the model.
   */
  TOOL_CHOICE_MODE_NONE: 'TOOL_CHOICE_MODE_NONE',
  /**
   * The model answers in text or calls tools: an answer that begins with "{" (or "[" where
   * parallel calls are allowed) is a call, generated under the tools' schemas, so it always parses.
   */
  TOOL_CHOICE_MODE_AUTO: 'TOOL_CHOICE_MODE_AUTO',
  /**
   * The answer is one or more calls.
   */
  TOOL_CHOICE_MODE_REQUIRED: 'TOOL_CHOICE_MODE_REQUIRED',
  /**
   * The answer is one call of ToolChoice.function.
   */
  TOOL_CHOICE_MODE_FUNCTION: 'TOOL_CHOICE_MODE_FUNCTION',
} as const;

export type ToolChoiceMode =
  /**
   * AUTO when tools are given, NONE otherwise.
   */
  | 'TOOL_CHOICE_MODE_UNSPECIFIED'
  | 0
  /**
   * Plain text; the tools are not shown to the model.
   */
  | 'TOOL_CHOICE_MODE_NONE'
  | 1
  /**
   * The model answers in text or calls tools: an answer that begins with "{" (or "[" where
   * parallel calls are allowed) is a call, generated under the tools' schemas, so it always parses.
   */
  | 'TOOL_CHOICE_MODE_AUTO'
  | 2
  /**
   * The answer is one or more calls.
   */
  | 'TOOL_CHOICE_MODE_REQUIRED'
  | 3
  /**
   * The answer is one call of ToolChoice.function.
   */
  | 'TOOL_CHOICE_MODE_FUNCTION'
  | 4

export type ToolChoiceMode__Output = typeof ToolChoiceMode[keyof typeof ToolChoiceMode]
