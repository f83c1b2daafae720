// Original file: ../../proto/tuneserve/v1/inference.proto


export interface ModelInfoRequest {
}

export interface ModelInfoRequest__Output {
}
