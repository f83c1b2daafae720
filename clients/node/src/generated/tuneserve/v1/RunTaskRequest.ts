// Original file: ../../proto/tuneserve/v1/tasks.proto

import type { GenerationParameters as _tuneserve_v1_GenerationParameters, GenerationParameters__Output as _tuneserve_v1_GenerationParameters__Output } from '../../tuneserve/v1/GenerationParameters';

export interface RunTaskRequest {
  'task'?: (string);
  'input'?: (string);
  /**
   * Overrides of the task's default decoding parameters.
   */
  'parameters'?: (_tuneserve_v1_GenerationParameters | null);
  'requestId'?: (string);
  /**
   * As in ClassifyRequest.
   */
  'routingKey'?: (string);
}

export interface RunTaskRequest__Output {
  'task': (string);
  'input': (string);
  /**
   * Overrides of the task's default decoding parameters.
   */
  'parameters': (_tuneserve_v1_GenerationParameters__Output | null);
  'requestId': (string);
  /**
   * As in ClassifyRequest.
   */
  'routingKey': (string);
}
