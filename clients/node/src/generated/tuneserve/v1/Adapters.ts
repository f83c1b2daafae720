// Original file: ../../proto/tuneserve/v1/adapters.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { AdapterInfo as _tuneserve_v1_AdapterInfo, AdapterInfo__Output as _tuneserve_v1_AdapterInfo__Output } from '../../tuneserve/v1/AdapterInfo';
import type { ClearRolloutRequest as _tuneserve_v1_ClearRolloutRequest, ClearRolloutRequest__Output as _tuneserve_v1_ClearRolloutRequest__Output } from '../../tuneserve/v1/ClearRolloutRequest';
import type { Experiment as _tuneserve_v1_Experiment, Experiment__Output as _tuneserve_v1_Experiment__Output } from '../../tuneserve/v1/Experiment';
import type { GetAdapterRequest as _tuneserve_v1_GetAdapterRequest, GetAdapterRequest__Output as _tuneserve_v1_GetAdapterRequest__Output } from '../../tuneserve/v1/GetAdapterRequest';
import type { GetExperimentRequest as _tuneserve_v1_GetExperimentRequest, GetExperimentRequest__Output as _tuneserve_v1_GetExperimentRequest__Output } from '../../tuneserve/v1/GetExperimentRequest';
import type { ImportAdapterRequest as _tuneserve_v1_ImportAdapterRequest, ImportAdapterRequest__Output as _tuneserve_v1_ImportAdapterRequest__Output } from '../../tuneserve/v1/ImportAdapterRequest';
import type { ImportAdapterResponse as _tuneserve_v1_ImportAdapterResponse, ImportAdapterResponse__Output as _tuneserve_v1_ImportAdapterResponse__Output } from '../../tuneserve/v1/ImportAdapterResponse';
import type { ListAdaptersRequest as _tuneserve_v1_ListAdaptersRequest, ListAdaptersRequest__Output as _tuneserve_v1_ListAdaptersRequest__Output } from '../../tuneserve/v1/ListAdaptersRequest';
import type { ListAdaptersResponse as _tuneserve_v1_ListAdaptersResponse, ListAdaptersResponse__Output as _tuneserve_v1_ListAdaptersResponse__Output } from '../../tuneserve/v1/ListAdaptersResponse';
import type { LoadAdapterRequest as _tuneserve_v1_LoadAdapterRequest, LoadAdapterRequest__Output as _tuneserve_v1_LoadAdapterRequest__Output } from '../../tuneserve/v1/LoadAdapterRequest';
import type { SetCurrentVersionRequest as _tuneserve_v1_SetCurrentVersionRequest, SetCurrentVersionRequest__Output as _tuneserve_v1_SetCurrentVersionRequest__Output } from '../../tuneserve/v1/SetCurrentVersionRequest';
import type { SetRolloutRequest as _tuneserve_v1_SetRolloutRequest, SetRolloutRequest__Output as _tuneserve_v1_SetRolloutRequest__Output } from '../../tuneserve/v1/SetRolloutRequest';
import type { UnloadAdapterRequest as _tuneserve_v1_UnloadAdapterRequest, UnloadAdapterRequest__Output as _tuneserve_v1_UnloadAdapterRequest__Output } from '../../tuneserve/v1/UnloadAdapterRequest';

export interface AdaptersClient extends grpc.Client {
  /**
   * Ends the split and the shadow: the name's traffic goes to its serving version again.
   */
  ClearRollout(argument: _tuneserve_v1_ClearRolloutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  ClearRollout(argument: _tuneserve_v1_ClearRolloutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  ClearRollout(argument: _tuneserve_v1_ClearRolloutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  ClearRollout(argument: _tuneserve_v1_ClearRolloutRequest, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  /**
   * Ends the split and the shadow: the name's traffic goes to its serving version again.
   */
  clearRollout(argument: _tuneserve_v1_ClearRolloutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  clearRollout(argument: _tuneserve_v1_ClearRolloutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  clearRollout(argument: _tuneserve_v1_ClearRolloutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  clearRollout(argument: _tuneserve_v1_ClearRolloutRequest, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  
  /**
   * One adapter by name.
   */
  GetAdapter(argument: _tuneserve_v1_GetAdapterRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  GetAdapter(argument: _tuneserve_v1_GetAdapterRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  GetAdapter(argument: _tuneserve_v1_GetAdapterRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  GetAdapter(argument: _tuneserve_v1_GetAdapterRequest, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  /**
   * One adapter by name.
   */
  getAdapter(argument: _tuneserve_v1_GetAdapterRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  getAdapter(argument: _tuneserve_v1_GetAdapterRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  getAdapter(argument: _tuneserve_v1_GetAdapterRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  getAdapter(argument: _tuneserve_v1_GetAdapterRequest, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  
  /**
   * The experiment report of a name since its rollout began: per arm, requests, errors,
   * latency, answers, feedback and accuracy against the control arm; shadows compared with
   * the answers callers got; the guard rule's rollbacks.
   */
  GetExperiment(argument: _tuneserve_v1_GetExperimentRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_Experiment__Output>): grpc.ClientUnaryCall;
  GetExperiment(argument: _tuneserve_v1_GetExperimentRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_Experiment__Output>): grpc.ClientUnaryCall;
  GetExperiment(argument: _tuneserve_v1_GetExperimentRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_Experiment__Output>): grpc.ClientUnaryCall;
  GetExperiment(argument: _tuneserve_v1_GetExperimentRequest, callback: grpc.requestCallback<_tuneserve_v1_Experiment__Output>): grpc.ClientUnaryCall;
  /**
   * The experiment report of a name since its rollout began: per arm, requests, errors,
   * latency, answers, feedback and accuracy against the control arm; shadows compared with
   * the answers callers got; the guard rule's rollbacks.
   */
  getExperiment(argument: _tuneserve_v1_GetExperimentRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_Experiment__Output>): grpc.ClientUnaryCall;
  getExperiment(argument: _tuneserve_v1_GetExperimentRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_Experiment__Output>): grpc.ClientUnaryCall;
  getExperiment(argument: _tuneserve_v1_GetExperimentRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_Experiment__Output>): grpc.ClientUnaryCall;
  getExperiment(argument: _tuneserve_v1_GetExperimentRequest, callback: grpc.requestCallback<_tuneserve_v1_Experiment__Output>): grpc.ClientUnaryCall;
  
  /**
   * Publishes a plain PEFT adapter directory (adapter_config.json + adapter_model.safetensors)
   * made by any training script as the next version of `name`, after checking it against this
   * server's base model. The first message carries the header, the rest the files in chunks.
   */
  ImportAdapter(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ImportAdapterResponse__Output>): grpc.ClientWritableStream<_tuneserve_v1_ImportAdapterRequest>;
  ImportAdapter(metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_ImportAdapterResponse__Output>): grpc.ClientWritableStream<_tuneserve_v1_ImportAdapterRequest>;
  ImportAdapter(options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ImportAdapterResponse__Output>): grpc.ClientWritableStream<_tuneserve_v1_ImportAdapterRequest>;
  ImportAdapter(callback: grpc.requestCallback<_tuneserve_v1_ImportAdapterResponse__Output>): grpc.ClientWritableStream<_tuneserve_v1_ImportAdapterRequest>;
  /**
   * Publishes a plain PEFT adapter directory (adapter_config.json + adapter_model.safetensors)
   * made by any training script as the next version of `name`, after checking it against this
   * server's base model. The first message carries the header, the rest the files in chunks.
   */
  importAdapter(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ImportAdapterResponse__Output>): grpc.ClientWritableStream<_tuneserve_v1_ImportAdapterRequest>;
  importAdapter(metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_ImportAdapterResponse__Output>): grpc.ClientWritableStream<_tuneserve_v1_ImportAdapterRequest>;
  importAdapter(options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ImportAdapterResponse__Output>): grpc.ClientWritableStream<_tuneserve_v1_ImportAdapterRequest>;
  importAdapter(callback: grpc.requestCallback<_tuneserve_v1_ImportAdapterResponse__Output>): grpc.ClientWritableStream<_tuneserve_v1_ImportAdapterRequest>;
  
  /**
   * Every adapter in the store or loaded, with its versions and their state.
   */
  ListAdapters(argument: _tuneserve_v1_ListAdaptersRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ListAdaptersResponse__Output>): grpc.ClientUnaryCall;
  ListAdapters(argument: _tuneserve_v1_ListAdaptersRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_ListAdaptersResponse__Output>): grpc.ClientUnaryCall;
  ListAdapters(argument: _tuneserve_v1_ListAdaptersRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ListAdaptersResponse__Output>): grpc.ClientUnaryCall;
  ListAdapters(argument: _tuneserve_v1_ListAdaptersRequest, callback: grpc.requestCallback<_tuneserve_v1_ListAdaptersResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Every adapter in the store or loaded, with its versions and their state.
   */
  listAdapters(argument: _tuneserve_v1_ListAdaptersRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ListAdaptersResponse__Output>): grpc.ClientUnaryCall;
  listAdapters(argument: _tuneserve_v1_ListAdaptersRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_ListAdaptersResponse__Output>): grpc.ClientUnaryCall;
  listAdapters(argument: _tuneserve_v1_ListAdaptersRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ListAdaptersResponse__Output>): grpc.ClientUnaryCall;
  listAdapters(argument: _tuneserve_v1_ListAdaptersRequest, callback: grpc.requestCallback<_tuneserve_v1_ListAdaptersResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Loads and checks a version ("name" = the current one, "name@N" = version N) now, instead of
   * on its first request; retries a version that was refused. FAILED_PRECONDITION with the reason
   * when the version is refused.
   */
  LoadAdapter(argument: _tuneserve_v1_LoadAdapterRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  LoadAdapter(argument: _tuneserve_v1_LoadAdapterRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  LoadAdapter(argument: _tuneserve_v1_LoadAdapterRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  LoadAdapter(argument: _tuneserve_v1_LoadAdapterRequest, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  /**
   * Loads and checks a version ("name" = the current one, "name@N" = version N) now, instead of
   * on its first request; retries a version that was refused. FAILED_PRECONDITION with the reason
   * when the version is refused.
   */
  loadAdapter(argument: _tuneserve_v1_LoadAdapterRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  loadAdapter(argument: _tuneserve_v1_LoadAdapterRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  loadAdapter(argument: _tuneserve_v1_LoadAdapterRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  loadAdapter(argument: _tuneserve_v1_LoadAdapterRequest, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  
  /**
   * Makes a version current (roll forward or back): the version is loaded and checked first, so a
   * refused version never becomes current; then new requests for the name get it.
   */
  SetCurrentVersion(argument: _tuneserve_v1_SetCurrentVersionRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  SetCurrentVersion(argument: _tuneserve_v1_SetCurrentVersionRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  SetCurrentVersion(argument: _tuneserve_v1_SetCurrentVersionRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  SetCurrentVersion(argument: _tuneserve_v1_SetCurrentVersionRequest, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  /**
   * Makes a version current (roll forward or back): the version is loaded and checked first, so a
   * refused version never becomes current; then new requests for the name get it.
   */
  setCurrentVersion(argument: _tuneserve_v1_SetCurrentVersionRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  setCurrentVersion(argument: _tuneserve_v1_SetCurrentVersionRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  setCurrentVersion(argument: _tuneserve_v1_SetCurrentVersionRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  setCurrentVersion(argument: _tuneserve_v1_SetCurrentVersionRequest, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  
  /**
   * Splits the bare name's traffic between versions by percent (an A/B test or a canary) and/or
   * sends a shadow version a copy of every bare-name request (answered and recorded, never
   * returned): every version is loaded and checked first. Requests with the same routing_key
   * always get the same version; pinned name@N requests bypass it. Stored beside the current
   * pointer; replaces the rollout in force.
   */
  SetRollout(argument: _tuneserve_v1_SetRolloutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  SetRollout(argument: _tuneserve_v1_SetRolloutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  SetRollout(argument: _tuneserve_v1_SetRolloutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  SetRollout(argument: _tuneserve_v1_SetRolloutRequest, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  /**
   * Splits the bare name's traffic between versions by percent (an A/B test or a canary) and/or
   * sends a shadow version a copy of every bare-name request (answered and recorded, never
   * returned): every version is loaded and checked first. Requests with the same routing_key
   * always get the same version; pinned name@N requests bypass it. Stored beside the current
   * pointer; replaces the rollout in force.
   */
  setRollout(argument: _tuneserve_v1_SetRolloutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  setRollout(argument: _tuneserve_v1_SetRolloutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  setRollout(argument: _tuneserve_v1_SetRolloutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  setRollout(argument: _tuneserve_v1_SetRolloutRequest, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  
  /**
   * Frees a loaded version (all loaded versions for a bare name); one in use is freed when its
   * last request ends. The store keeps the files.
   */
  UnloadAdapter(argument: _tuneserve_v1_UnloadAdapterRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  UnloadAdapter(argument: _tuneserve_v1_UnloadAdapterRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  UnloadAdapter(argument: _tuneserve_v1_UnloadAdapterRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  UnloadAdapter(argument: _tuneserve_v1_UnloadAdapterRequest, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  /**
   * Frees a loaded version (all loaded versions for a bare name); one in use is freed when its
   * last request ends. The store keeps the files.
   */
  unloadAdapter(argument: _tuneserve_v1_UnloadAdapterRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  unloadAdapter(argument: _tuneserve_v1_UnloadAdapterRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  unloadAdapter(argument: _tuneserve_v1_UnloadAdapterRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  unloadAdapter(argument: _tuneserve_v1_UnloadAdapterRequest, callback: grpc.requestCallback<_tuneserve_v1_AdapterInfo__Output>): grpc.ClientUnaryCall;
  
}

export interface AdaptersHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Ends the split and the shadow: the name's traffic goes to its serving version again.
   */
  ClearRollout: grpc.handleUnaryCall<_tuneserve_v1_ClearRolloutRequest__Output, _tuneserve_v1_AdapterInfo>;
  
  /**
   * One adapter by name.
   */
  GetAdapter: grpc.handleUnaryCall<_tuneserve_v1_GetAdapterRequest__Output, _tuneserve_v1_AdapterInfo>;
  
  /**
   * The experiment report of a name since its rollout began: per arm, requests, errors,
   * latency, answers, feedback and accuracy against the control arm; shadows compared with
   * the answers callers got; the guard rule's rollbacks.
   */
  GetExperiment: grpc.handleUnaryCall<_tuneserve_v1_GetExperimentRequest__Output, _tuneserve_v1_Experiment>;
  
  /**
   * Publishes a plain PEFT adapter directory (adapter_config.json + adapter_model.safetensors)
   * made by any training script as the next version of `name`, after checking it against this
   * server's base model. The first message carries the header, the rest the files in chunks.
   */
  ImportAdapter: grpc.handleClientStreamingCall<_tuneserve_v1_ImportAdapterRequest__Output, _tuneserve_v1_ImportAdapterResponse>;
  
  /**
   * Every adapter in the store or loaded, with its versions and their state.
   */
  ListAdapters: grpc.handleUnaryCall<_tuneserve_v1_ListAdaptersRequest__Output, _tuneserve_v1_ListAdaptersResponse>;
  
  /**
   * Loads and checks a version ("name" = the current one, "name@N" = version N) now, instead of
   * on its first request; retries a version that was refused. FAILED_PRECONDITION with the reason
   * when the version is refused.
   */
  LoadAdapter: grpc.handleUnaryCall<_tuneserve_v1_LoadAdapterRequest__Output, _tuneserve_v1_AdapterInfo>;
  
  /**
   * Makes a version current (roll forward or back): the version is loaded and checked first, so a
   * refused version never becomes current; then new requests for the name get it.
   */
  SetCurrentVersion: grpc.handleUnaryCall<_tuneserve_v1_SetCurrentVersionRequest__Output, _tuneserve_v1_AdapterInfo>;
  
  /**
   * Splits the bare name's traffic between versions by percent (an A/B test or a canary) and/or
   * sends a shadow version a copy of every bare-name request (answered and recorded, never
   * returned): every version is loaded and checked first. Requests with the same routing_key
   * always get the same version; pinned name@N requests bypass it. Stored beside the current
   * pointer; replaces the rollout in force.
   */
  SetRollout: grpc.handleUnaryCall<_tuneserve_v1_SetRolloutRequest__Output, _tuneserve_v1_AdapterInfo>;
  
  /**
   * Frees a loaded version (all loaded versions for a bare name); one in use is freed when its
   * last request ends. The store keeps the files.
   */
  UnloadAdapter: grpc.handleUnaryCall<_tuneserve_v1_UnloadAdapterRequest__Output, _tuneserve_v1_AdapterInfo>;
  
}

export interface AdaptersDefinition extends grpc.ServiceDefinition {
  ClearRollout: MethodDefinition<_tuneserve_v1_ClearRolloutRequest, _tuneserve_v1_AdapterInfo, _tuneserve_v1_ClearRolloutRequest__Output, _tuneserve_v1_AdapterInfo__Output>
  GetAdapter: MethodDefinition<_tuneserve_v1_GetAdapterRequest, _tuneserve_v1_AdapterInfo, _tuneserve_v1_GetAdapterRequest__Output, _tuneserve_v1_AdapterInfo__Output>
  GetExperiment: MethodDefinition<_tuneserve_v1_GetExperimentRequest, _tuneserve_v1_Experiment, _tuneserve_v1_GetExperimentRequest__Output, _tuneserve_v1_Experiment__Output>
  ImportAdapter: MethodDefinition<_tuneserve_v1_ImportAdapterRequest, _tuneserve_v1_ImportAdapterResponse, _tuneserve_v1_ImportAdapterRequest__Output, _tuneserve_v1_ImportAdapterResponse__Output>
  ListAdapters: MethodDefinition<_tuneserve_v1_ListAdaptersRequest, _tuneserve_v1_ListAdaptersResponse, _tuneserve_v1_ListAdaptersRequest__Output, _tuneserve_v1_ListAdaptersResponse__Output>
  LoadAdapter: MethodDefinition<_tuneserve_v1_LoadAdapterRequest, _tuneserve_v1_AdapterInfo, _tuneserve_v1_LoadAdapterRequest__Output, _tuneserve_v1_AdapterInfo__Output>
  SetCurrentVersion: MethodDefinition<_tuneserve_v1_SetCurrentVersionRequest, _tuneserve_v1_AdapterInfo, _tuneserve_v1_SetCurrentVersionRequest__Output, _tuneserve_v1_AdapterInfo__Output>
  SetRollout: MethodDefinition<_tuneserve_v1_SetRolloutRequest, _tuneserve_v1_AdapterInfo, _tuneserve_v1_SetRolloutRequest__Output, _tuneserve_v1_AdapterInfo__Output>
  UnloadAdapter: MethodDefinition<_tuneserve_v1_UnloadAdapterRequest, _tuneserve_v1_AdapterInfo, _tuneserve_v1_UnloadAdapterRequest__Output, _tuneserve_v1_AdapterInfo__Output>
}
