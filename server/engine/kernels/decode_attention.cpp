// Decode attention read straight from the paged KV cache: one query token per row, no gather.
//
// For every row b and query head h (kv head h / (H / kv_heads)), over the row's context slots:
//   out[b, h] = softmax_l(scale * q[b, h] . K[slot_l]) @ V[slot_l]
// The cache holds, per slot, the keys of every kv head and then their values: [slots, 2 * kv_heads, D].
// Padded context positions (mask false) are skipped. Everything is float32, as the CPU cache is.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <immintrin.h>
#include <torch/library.h>

#include <cmath>
#include <limits>
#include <vector>

namespace {

void attend_one(const float* q, const float* kv, const int64_t* slots, const bool* mask, int64_t context, int64_t head_dim,
                int64_t slot_stride, int64_t key_offset, int64_t value_offset, float scale, float* out) {
  thread_local std::vector<float> scores;
  scores.resize(context);
  const int64_t chunks = head_dim / 16;
  float top = -std::numeric_limits<float>::infinity();
  bool any = false;
  for (int64_t l = 0; l < context; ++l) {
    if (mask != nullptr && !mask[l]) {
      scores[l] = -std::numeric_limits<float>::infinity();
      continue;
    }
    any = true;
    const float* k = kv + slots[l] * slot_stride + key_offset;
    __m512 dot = _mm512_setzero_ps();
    for (int64_t c = 0; c < chunks; ++c) dot = _mm512_fmadd_ps(_mm512_loadu_ps(k + 16 * c), _mm512_loadu_ps(q + 16 * c), dot);
    scores[l] = _mm512_reduce_add_ps(dot) * scale;
    top = std::max(top, scores[l]);
  }
  for (int64_t c = 0; c < chunks; ++c) _mm512_storeu_ps(out + 16 * c, _mm512_setzero_ps());
  if (!any) return;  // nothing to attend to
  // NaN scores are not the maximum but stay NaN through exp: the output turns NaN, as aten's would
  float total = 0.0f;
  for (int64_t l = 0; l < context; ++l) {
    if (mask != nullptr && !mask[l]) continue;
    const float p = std::exp(scores[l] - top);
    total += p;
    const float* v = kv + slots[l] * slot_stride + value_offset;
    const __m512 weight = _mm512_set1_ps(p);
    for (int64_t c = 0; c < chunks; ++c) {
      _mm512_storeu_ps(out + 16 * c, _mm512_fmadd_ps(weight, _mm512_loadu_ps(v + 16 * c), _mm512_loadu_ps(out + 16 * c)));
    }
  }
  const __m512 inverse = _mm512_set1_ps(1.0f / total);
  for (int64_t c = 0; c < chunks; ++c) _mm512_storeu_ps(out + 16 * c, _mm512_mul_ps(_mm512_loadu_ps(out + 16 * c), inverse));
}

at::Tensor decode_attention(const at::Tensor& q, const at::Tensor& kv, const at::Tensor& slots, const std::optional<at::Tensor>& mask,
                            int64_t kv_heads, double scale) {
  TORCH_CHECK(q.dim() == 3 && q.scalar_type() == at::kFloat && q.is_contiguous(),
              "decode_attention: q must be contiguous float32 [rows, heads, head_dim]");
  TORCH_CHECK(kv.dim() == 3 && kv.scalar_type() == at::kFloat && kv.is_contiguous(),
              "decode_attention: kv must be contiguous float32 [slots, 2 * kv_heads, head_dim]");
  TORCH_CHECK(slots.dim() == 2 && slots.scalar_type() == at::kLong && slots.is_contiguous(),
              "decode_attention: slots must be contiguous int64 [rows, context]");
  const int64_t rows = q.size(0), heads = q.size(1), head_dim = q.size(2), context = slots.size(1);
  TORCH_CHECK(slots.size(0) == rows, "decode_attention: slots must have one row per query row");
  TORCH_CHECK(kv_heads > 0 && heads % kv_heads == 0 && kv.size(1) == 2 * kv_heads && kv.size(2) == head_dim,
              "decode_attention: kv must be [slots, 2 * kv_heads, head_dim] with heads divisible by kv_heads");
  TORCH_CHECK(head_dim % 16 == 0, "decode_attention: head_dim must divide by 16");
  const bool* m = nullptr;
  if (mask.has_value()) {
    TORCH_CHECK(mask->scalar_type() == at::kBool && mask->is_contiguous() && mask->numel() == rows * context,
                "decode_attention: mask must be contiguous bool [rows, context]");
    m = mask->data_ptr<bool>();
  }
  const int64_t* s = slots.data_ptr<int64_t>();
  const int64_t capacity = kv.size(0);
  for (int64_t i = 0; i < rows * context; ++i) {
    TORCH_CHECK(s[i] >= 0 && s[i] < capacity, "decode_attention: slot ", s[i], " is outside the cache of ", capacity, " slots");
  }
  auto out = at::empty({rows, heads, head_dim}, q.options());
  const float* qp = q.data_ptr<float>();
  const float* kvp = kv.data_ptr<float>();
  float* op = out.data_ptr<float>();
  const int64_t group = heads / kv_heads, slot_stride = 2 * kv_heads * head_dim;
  const float scale_f = static_cast<float>(scale);
  at::parallel_for(0, rows * heads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / heads, h = item % heads, g = h / group;
      attend_one(qp + item * head_dim, kvp, s + b * context, m == nullptr ? nullptr : m + b * context, context, head_dim, slot_stride,
                 g * head_dim, (kv_heads + g) * head_dim, scale_f, op + item * head_dim);
    }
  });
  return out;
}

}  // namespace

// the schema is defined in decode_attention.py, with the fake implementation torch.compile traces
TORCH_LIBRARY_IMPL(tuneserve, CPU, m) { m.impl("decode_attention", &decode_attention); }
