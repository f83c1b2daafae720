import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { InferenceClient as _tuneserve_v1_InferenceClient, InferenceDefinition as _tuneserve_v1_InferenceDefinition } from './tuneserve/v1/Inference';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  google: {
    protobuf: {
      ListValue: MessageTypeDefinition
      NullValue: EnumTypeDefinition
      Struct: MessageTypeDefinition
      Value: MessageTypeDefinition
    }
  }
  tuneserve: {
    v1: {
      ChatMessage: MessageTypeDefinition
      ChoiceList: MessageTypeDefinition
      Demonstration: MessageTypeDefinition
      DemonstrationOrder: EnumTypeDefinition
      DemonstrationSelection: EnumTypeDefinition
      FeedbackRequest: MessageTypeDefinition
      FeedbackResponse: MessageTypeDefinition
      FewShotPrompt: MessageTypeDefinition
      GenerateRequest: MessageTypeDefinition
      GenerateResponse: MessageTypeDefinition
      GenerateStreamResponse: MessageTypeDefinition
      GenerationParameters: MessageTypeDefinition
      Inference: SubtypeConstructor<typeof grpc.Client, _tuneserve_v1_InferenceClient> & { service: _tuneserve_v1_InferenceDefinition }
      ModelInfoRequest: MessageTypeDefinition
      ModelInfoResponse: MessageTypeDefinition
      PromptInfo: MessageTypeDefinition
      StopReason: EnumTypeDefinition
      StructuredOutput: MessageTypeDefinition
      TaskBacking: EnumTypeDefinition
      Thumb: EnumTypeDefinition
      Timings: MessageTypeDefinition
      TokenLogprob: MessageTypeDefinition
      TokenizeRequest: MessageTypeDefinition
      TokenizeResponse: MessageTypeDefinition
      Tool: MessageTypeDefinition
      ToolCall: MessageTypeDefinition
      ToolChoice: MessageTypeDefinition
      ToolChoiceMode: EnumTypeDefinition
      TopLogprob: MessageTypeDefinition
      Usage: MessageTypeDefinition
    }
  }
}

