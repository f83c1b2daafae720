// Original file: ../../proto/tuneserve/v1/trainer.proto


export interface UploadFileRequest {
  /**
   * The name it was uploaded under (shown, never opened): at most 255 characters.
   */
  'filename'?: (string);
  /**
   * "fine-tune" (the only purpose the trainer keeps files for).
   */
  'purpose'?: (string);
  'content'?: (Buffer | Uint8Array | string);
}

export interface UploadFileRequest__Output {
  /**
   * The name it was uploaded under (shown, never opened): at most 255 characters.
   */
  'filename': (string);
  /**
   * "fine-tune" (the only purpose the trainer keeps files for).
   */
  'purpose': (string);
  'content': (Buffer);
}
