// Original file: ../../proto/tuneserve/v1/adapters.proto


export interface ListAdaptersRequest {
}

export interface ListAdaptersRequest__Output {
}
