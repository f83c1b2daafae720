import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { AdaptersClient as _tuneserve_v1_AdaptersClient, AdaptersDefinition as _tuneserve_v1_AdaptersDefinition } from './tuneserve/v1/Adapters';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  tuneserve: {
    v1: {
      AdapterInfo: MessageTypeDefinition
      AdapterState: EnumTypeDefinition
      AdapterTier: EnumTypeDefinition
      AdapterVersion: MessageTypeDefinition
      Adapters: SubtypeConstructor<typeof grpc.Client, _tuneserve_v1_AdaptersClient> & { service: _tuneserve_v1_AdaptersDefinition }
      ArmReport: MessageTypeDefinition
      ClearRolloutRequest: MessageTypeDefinition
      Experiment: MessageTypeDefinition
      ExperimentEvent: MessageTypeDefinition
      FileChunk: MessageTypeDefinition
      GetAdapterRequest: MessageTypeDefinition
      GetExperimentRequest: MessageTypeDefinition
      GuardRule: MessageTypeDefinition
      ImportAdapterRequest: MessageTypeDefinition
      ImportAdapterResponse: MessageTypeDefinition
      ImportHeader: MessageTypeDefinition
      ListAdaptersRequest: MessageTypeDefinition
      ListAdaptersResponse: MessageTypeDefinition
      LoadAdapterRequest: MessageTypeDefinition
      SetCurrentVersionRequest: MessageTypeDefinition
      SetRolloutRequest: MessageTypeDefinition
      UnloadAdapterRequest: MessageTypeDefinition
    }
  }
}

