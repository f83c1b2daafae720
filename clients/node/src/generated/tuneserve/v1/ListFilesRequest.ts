// Original file: ../../proto/tuneserve/v1/trainer.proto


export interface ListFilesRequest {
  /**
   * Only files of this purpose; empty: all.
   */
  'purpose'?: (string);
  /**
   * At most this many (default 100, at most 10000).
   */
  'limit'?: (number);
  /**
   * Files older than this file id (the last one of the previous page); an id of no file is INVALID_ARGUMENT.
   */
  'after'?: (string);
}

export interface ListFilesRequest__Output {
  /**
   * Only files of this purpose; empty: all.
   */
  'purpose': (string);
  /**
   * At most this many (default 100, at most 10000).
   */
  'limit': (number);
  /**
   * Files older than this file id (the last one of the previous page); an id of no file is INVALID_ARGUMENT.
   */
  'after': (string);
}
