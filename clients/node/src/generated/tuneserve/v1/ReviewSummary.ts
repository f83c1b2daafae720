// Original file: ../../proto/tuneserve/v1/trainer.proto


export interface ReviewSummary {
  'reviews'?: (number);
  'reviewers'?: (number);
  'better'?: (number);
  'worse'?: (number);
  'same'?: (number);
  'meanRating'?: (number | string);
  '_meanRating'?: "meanRating";
}

export interface ReviewSummary__Output {
  'reviews': (number);
  'reviewers': (number);
  'better': (number);
  'worse': (number);
  'same': (number);
  'meanRating'?: (number);
  '_meanRating'?: "meanRating";
}
