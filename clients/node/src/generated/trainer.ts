import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { TrainerClient as _tuneserve_v1_TrainerClient, TrainerDefinition as _tuneserve_v1_TrainerDefinition } from './tuneserve/v1/Trainer';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  google: {
    protobuf: {
      Timestamp: MessageTypeDefinition
    }
  }
  tuneserve: {
    v1: {
      CancelJobRequest: MessageTypeDefinition
      ConditionResult: MessageTypeDefinition
      ConfusionRow: MessageTypeDefinition
      CreateJobRequest: MessageTypeDefinition
      DataNotes: MessageTypeDefinition
      Duplicates: EnumTypeDefinition
      ErrorExample: MessageTypeDefinition
      EvalReport: MessageTypeDefinition
      EvaluationConfig: MessageTypeDefinition
      FileContent: MessageTypeDefinition
      ForgettingProbe: MessageTypeDefinition
      GetFileRequest: MessageTypeDefinition
      GetJobReportRequest: MessageTypeDefinition
      GetJobRequest: MessageTypeDefinition
      Hyperparameters: MessageTypeDefinition
      InvalidLine: MessageTypeDefinition
      Job: MessageTypeDefinition
      JobEvent: MessageTypeDefinition
      JobReport: MessageTypeDefinition
      JobState: EnumTypeDefinition
      LabelMetrics: MessageTypeDefinition
      ListFilesRequest: MessageTypeDefinition
      ListFilesResponse: MessageTypeDefinition
      ListJobEventsRequest: MessageTypeDefinition
      ListJobEventsResponse: MessageTypeDefinition
      ListJobsRequest: MessageTypeDefinition
      ListJobsResponse: MessageTypeDefinition
      OverLength: EnumTypeDefinition
      PublishPolicy: EnumTypeDefinition
      Review: MessageTypeDefinition
      ReviewJobRequest: MessageTypeDefinition
      ReviewSummary: MessageTypeDefinition
      TaskConfig: MessageTypeDefinition
      Trainer: SubtypeConstructor<typeof grpc.Client, _tuneserve_v1_TrainerClient> & { service: _tuneserve_v1_TrainerDefinition }
      TrainingFile: MessageTypeDefinition
      TrainingProgress: MessageTypeDefinition
      UploadFileRequest: MessageTypeDefinition
      WatchJobRequest: MessageTypeDefinition
    }
  }
}

