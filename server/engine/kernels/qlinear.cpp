// Few-row linear layers on block-quantized weights with AVX-512 VNNI integer dot products.
//
// y[m, n] = sum over blocks b of 32 inputs:  d[n,b] * dx[m,b] * (q[n,b,:] . xq[m,b,:])  +  mn[n,b] * sx[m,b]
//
// Weights are unsigned q (4 or 8 bits) with a scale d and a minimum mn per output row and block
// (w = d * q + mn, GGUF's Q4_1 form). Inputs are quantized on the fly per row and block to int8
// xq with scale dx (sx = dx * sum(xq)), as llama.cpp does for its dot products: one vpdpbusd then
// multiplies and adds 64 weight-input pairs, where a float kernel first has to widen every weight.
//
// Layout (built by server/engine/kernels/qlinear.py): output rows in tiles of 16, one int32 lane
// of a 512-bit register per row. Per tile and block, 8 groups of 4 inputs: group g holds, for
// lane i, the 4 consecutive q of row i. 8-bit: 8 registers of 64 bytes. 4-bit: 4 registers, group
// g in the low nibbles and group g + 4 in the high ones. Then 16 fp16 d and 16 fp16 mn.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <immintrin.h>
#include <torch/library.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "simd.h"

namespace {

using tuneserve::load16;
using tuneserve::store16;

constexpr int64_t kBlock = 32;
constexpr int64_t kTile = 16;

// Bytes of one tile and block in the packed layout: the values, then 16 fp16 scales and 16 minimums.
constexpr int64_t values_bytes(int64_t bits) { return bits * kBlock * kTile / 8; }
constexpr int64_t block_bytes(int64_t bits) { return values_bytes(bits) + 4 * kTile; }

// One row of inputs as int8 per block of 32: values, scale, and scale times the sum of the values.
template <typename T>
void quantize_row(const T* x, int64_t blocks, int8_t* q, float* d, float* s) {
  for (int64_t b = 0; b < blocks; ++b) {
    __m512 lo = load16(x + b * kBlock), hi = load16(x + b * kBlock + 16);
    __m512 alo = _mm512_abs_ps(lo), ahi = _mm512_abs_ps(hi);
    // max() drops NaN, and int8 has no infinity: a block that is not finite gets a NaN scale, so the
    // row's outputs turn NaN as the float kernels' would (the engine ends such a request alone)
    const __m512 inf = _mm512_set1_ps(std::numeric_limits<float>::infinity());
    const bool finite = (_mm512_cmp_ps_mask(alo, inf, _CMP_NLT_UQ) | _mm512_cmp_ps_mask(ahi, inf, _CMP_NLT_UQ)) == 0;
    float amax = finite ? _mm512_reduce_max_ps(_mm512_max_ps(alo, ahi)) : 0.0f;
    float scale = finite ? amax / 127.0f : std::numeric_limits<float>::quiet_NaN();
    __m512 inv = _mm512_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
    __m512i qlo = _mm512_cvtps_epi32(_mm512_mul_ps(lo, inv));  // round to nearest
    __m512i qhi = _mm512_cvtps_epi32(_mm512_mul_ps(hi, inv));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + b * kBlock), _mm512_cvtsepi32_epi8(qlo));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + b * kBlock + 16), _mm512_cvtsepi32_epi8(qhi));
    d[b] = scale;
    s[b] = scale * static_cast<float>(_mm512_reduce_add_epi32(_mm512_add_epi32(qlo, qhi)));
  }
}

// Slot rows of tables that the caller reads next (the LoRA deltas of the same rows), fetched into
// cache while the tiles compute: with many rows the tiles are bound by arithmetic and leave memory
// idle, and the tables of many adapters are what the next call would otherwise wait on.
class Prefetch {
 public:
  Prefetch(at::TensorList tables, const std::optional<at::Tensor>& slots) {
    if (!slots.has_value() || tables.empty()) return;
    const int64_t* s = slots->data_ptr<int64_t>();
    std::vector<int64_t> distinct(s, s + slots->numel());
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    // slot by slot, as the caller's threads split their work: a line lands in the cache of the thread that reads it
    for (int64_t slot : distinct) {
      for (const at::Tensor& t : tables) {
        if (slot <= 0 || slot >= t.size(0)) continue;
        const int64_t row = t.numel() / t.size(0) * t.element_size();
        spans_.push_back({static_cast<const char*>(t.data_ptr()) + slot * row, lines_});
        lines_ += (row + 63) / 64;
      }
    }
    spans_.push_back({nullptr, lines_});
  }
  int64_t lines() const { return lines_; }
  // The address of line i of the spans counted one after the other, from span `*span` on.
  const char* line(int64_t i, size_t* span) const {
    while (spans_[*span + 1].second <= i) ++*span;
    return spans_[*span].first + (i - spans_[*span].second) * 64;
  }

 private:
  std::vector<std::pair<const char*, int64_t>> spans_;  // (start, lines before it), then an end mark
  int64_t lines_ = 0;
};

// One thread's share of the lines, a few at a time between the blocks of its tiles.
class Ahead {
 public:
  Ahead(const Prefetch& prefetch, int64_t begin, int64_t end, int64_t steps)
      : prefetch_(prefetch), next_(begin), end_(end), per_step_((end - begin + steps - 1) / std::max<int64_t>(steps, 1)) {}
  inline void step() {
    for (int64_t stop = std::min(end_, next_ + per_step_); next_ < stop; ++next_) _mm_prefetch(prefetch_.line(next_, &span_), _MM_HINT_T1);
  }
  void rest() {
    while (next_ < end_) step();
  }

 private:
  const Prefetch& prefetch_;
  int64_t next_, end_, per_step_;
  size_t span_ = 0;
};

// Rows [m0, m0 + MR) of the inputs against one tile of 16 output rows.
template <int MR, int BITS, typename T>
inline void tile(const uint8_t* w, int64_t blocks, const int8_t* xq, const float* xd, const float* xs, int64_t k, T* out, int64_t ldo,
                 Ahead& ahead) {
  __m512 acc[MR];
  for (int m = 0; m < MR; ++m) acc[m] = _mm512_setzero_ps();
  const __m512i nibble = _mm512_set1_epi8(0x0f);
  for (int64_t b = 0; b < blocks; ++b) {
    ahead.step();
    const uint8_t* wb = w + b * block_bytes(BITS);
    __m512i ops[8];
    if constexpr (BITS == 4) {
      for (int r = 0; r < 4; ++r) {
        __m512i v = _mm512_loadu_si512(wb + 64 * r);
        ops[r] = _mm512_and_si512(v, nibble);
        ops[r + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), nibble);
      }
    } else {
      for (int r = 0; r < 8; ++r) ops[r] = _mm512_loadu_si512(wb + 64 * r);
    }
    const __m256i* sb = reinterpret_cast<const __m256i*>(wb + values_bytes(BITS));
    __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(sb));
    __m512 mn = _mm512_cvtph_ps(_mm256_loadu_si256(sb + 1));
    for (int m = 0; m < MR; ++m) {
      const int32_t* x4 = reinterpret_cast<const int32_t*>(xq + m * k + b * kBlock);
      __m512i dot = _mm512_setzero_si512();
      for (int g = 0; g < 8; ++g) dot = _mm512_dpbusd_epi32(dot, ops[g], _mm512_set1_epi32(x4[g]));
      acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(d, _mm512_set1_ps(xd[m * blocks + b])), acc[m]);
      acc[m] = _mm512_fmadd_ps(mn, _mm512_set1_ps(xs[m * blocks + b]), acc[m]);
    }
  }
  for (int m = 0; m < MR; ++m) store16(out + m * ldo, acc[m]);
}

template <int BITS, typename T>
void tile_rows(const uint8_t* w, int64_t blocks, const int8_t* xq, const float* xd, const float* xs, int64_t rows, int64_t k, T* out,
               int64_t ldo, Ahead& ahead) {
  for (int64_t m0 = 0; m0 < rows; m0 += 4) {
    const int8_t* q = xq + m0 * k;
    const float* d = xd + m0 * blocks;
    const float* s = xs + m0 * blocks;
    T* o = out + m0 * ldo;
    switch (std::min<int64_t>(4, rows - m0)) {
      case 1:
        tile<1, BITS>(w, blocks, q, d, s, k, o, ldo, ahead);
        break;
      case 2:
        tile<2, BITS>(w, blocks, q, d, s, k, o, ldo, ahead);
        break;
      case 3:
        tile<3, BITS>(w, blocks, q, d, s, k, o, ldo, ahead);
        break;
      default:
        tile<4, BITS>(w, blocks, q, d, s, k, o, ldo, ahead);
        break;
    }
  }
}

template <typename T>
void run(const at::Tensor& x, const at::Tensor& packed, int64_t bits, at::Tensor& out, const Prefetch& prefetch) {
  const int64_t rows = x.size(0), k = x.size(1), n = out.size(1), blocks = k / kBlock, tiles = n / kTile;
  // the quantized inputs live in buffers of the calling thread: no allocation per call
  thread_local std::vector<int8_t> xq;
  thread_local std::vector<float> xd, xs;
  xq.resize(rows * k);
  xd.resize(rows * blocks);
  xs.resize(rows * blocks);
  const T* xp = x.data_ptr<T>();
  for (int64_t m = 0; m < rows; ++m) {
    quantize_row(xp + m * k, blocks, xq.data() + m * k, xd.data() + m * blocks, xs.data() + m * blocks);
  }
  const int64_t tile_bytes = blocks * block_bytes(bits);
  const uint8_t* w = packed.data_ptr<uint8_t>();
  T* o = out.data_ptr<T>();
  const int8_t* q = xq.data();
  const float* d = xd.data();
  const float* s = xs.data();
  const int64_t lines = prefetch.lines(), per_tile = ((rows + 3) / 4) * blocks;  // blocks a tile steps through
  at::parallel_for(0, tiles, 1, [&](int64_t begin, int64_t end) {
    Ahead ahead(prefetch, lines * begin / tiles, lines * end / tiles, (end - begin) * per_tile);
    for (int64_t t = begin; t < end; ++t) {
      if (bits == 4) {
        tile_rows<4>(w + t * tile_bytes, blocks, q, d, s, rows, k, o + t * kTile, n, ahead);
      } else {
        tile_rows<8>(w + t * tile_bytes, blocks, q, d, s, rows, k, o + t * kTile, n, ahead);
      }
    }
    ahead.rest();
  });
}

at::Tensor qlinear(const at::Tensor& x, const at::Tensor& packed, int64_t bits, int64_t out_features, at::TensorList prefetch,
                   const std::optional<at::Tensor>& prefetch_slots) {
  TORCH_CHECK(x.dim() == 2 && x.is_contiguous(), "qlinear: x must be a contiguous [rows, in] matrix");
  TORCH_CHECK(x.size(1) % kBlock == 0 && out_features % kTile == 0, "qlinear: in must divide by 32 and out by 16");
  TORCH_CHECK(bits == 4 || bits == 8, "qlinear: bits must be 4 or 8");
  TORCH_CHECK(packed.scalar_type() == at::kByte && packed.is_contiguous(), "qlinear: packed weights must be contiguous uint8");
  const int64_t expected = (out_features / kTile) * (x.size(1) / kBlock) * block_bytes(bits);
  TORCH_CHECK(packed.numel() == expected, "qlinear: packed weights do not match the shapes");
  for (const at::Tensor& t : prefetch) TORCH_CHECK(t.dim() >= 1 && t.is_contiguous(), "qlinear: tables to prefetch must be contiguous");
  TORCH_CHECK(!prefetch_slots.has_value() || (prefetch_slots->scalar_type() == at::kLong && prefetch_slots->is_contiguous()),
              "qlinear: prefetch_slots must be contiguous int64");
  const Prefetch ahead(prefetch, prefetch_slots);
  auto out = at::empty({x.size(0), out_features}, x.options());
  if (x.scalar_type() == at::kBFloat16) {
    run<c10::BFloat16>(x, packed, bits, out, ahead);
  } else {
    TORCH_CHECK(x.scalar_type() == at::kFloat, "qlinear: x must be float32 or bfloat16");
    run<float>(x, packed, bits, out, ahead);
  }
  return out;
}

}  // namespace

// the schema is defined in qlinear.py, with the fake implementation torch.compile traces
TORCH_LIBRARY_IMPL(tuneserve, CPU, m) { m.impl("qlinear", &qlinear); }
