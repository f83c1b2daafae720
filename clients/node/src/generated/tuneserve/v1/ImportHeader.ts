// Original file: ../../proto/tuneserve/v1/adapters.proto


export interface ImportHeader {
  /**
   * Name in the store; the import becomes its next version.
   */
  'name'?: (string);
  /**
   * Make the new version current (the default behaviour of the CLI).
   */
  'makeCurrent'?: (boolean);
  /**
   * Free text recorded in the manifest, e.g. where the adapter came from.
   */
  'source'?: (string);
}

export interface ImportHeader__Output {
  /**
   * Name in the store; the import becomes its next version.
   */
  'name': (string);
  /**
   * Make the new version current (the default behaviour of the CLI).
   */
  'makeCurrent': (boolean);
  /**
   * Free text recorded in the manifest, e.g. where the adapter came from.
   */
  'source': (string);
}
