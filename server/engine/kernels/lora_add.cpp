// Per-row LoRA deltas (decode rows, and prompt rows on the exact tables), read straight from the
// slot tables and added in place.
//
// For each row t with slot s = row_slots[t] > 0 and each member m of the fused group that the
// slot's adapter targets (bit m of members[s]), with r = ranks[s]:
//   h[j]     = A[s, m * rmax + j, :] . x[t, :]                                for j < r
//   out[t, o] += sum_j h[j] * B[s, j, o]                   for o in [bounds[m], bounds[m + 1])
// A is the group's table for one layer [slots, n * rmax, in]; B is stored transposed and compact,
// [slots, rmax, out]: row j holds every member's j-th column of B over that member's own outputs
// (the members' outputs do not overlap), scaled already. Rows of slot 0 (the base model) cost
// nothing, and a slot's A and B are read once per step whatever the number of its rows.
//
// The tables are float32 or bfloat16, or 8-bit for VNNI integer dot products (uint8 holding
// q + 128, q the signed value). 8-bit A has a scale per row ([slots, n * rmax]); the rows' inputs
// are quantized to int8 per block of 64 as the step runs, each block with its own scale. 8-bit B
// has a bfloat16 scale per output ([slots, out]) and is laid out for vpdpbusd, [slots, rmax * out]: per
// chunk of 64 outputs (counted member by member from each member's first output) a block
// [rmax / 4, chunk, 4], 4 consecutive ranks of one output side by side, so that a work item reads
// one stretch of memory; each row's h is quantized to int8 per member.
// The + 128 is taken out again with the sums of the int8 inputs. With many adapters in a step the
// tables are what the kernel waits on, and 8 bits halve them; VNNI makes the arithmetic 3-4x
// cheaper than widening every weight to float.
//
// bfloat16 tables with bfloat16 inputs (a prompt's rows in a bf16 model) go by vdpbf16ps where the
// CPU has it: products of bfloat16 pairs summed in float32, h rounded to bfloat16 between the two
// products as a bfloat16 matmul rounds it (24 prompts of 40 rows, one layer: 5.7 -> 3.4 ms).
//
// Work is split over (slot, member, 8 rows) for the A products and over (slot, member, 64 outputs)
// for the B products; no two work items write the same output. Sums are float32.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <immintrin.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "simd.h"

namespace {

using tuneserve::load16;
using tuneserve::store16;

constexpr int64_t kRows = 4;        // rows sharing one pass over a row of A or a chunk of B
constexpr int64_t kChunk = 64;      // outputs per work item of the B products: 4 registers a row
constexpr int64_t kShrinkRows = 8;  // rows per work item of the A products

struct Group {
  int64_t slot, begin, end;  // rows order[begin, end) use this slot
};

// ---- float32 and bfloat16 tables --------------------------------------------------------------

// h[i, jj] for jj < keep, R rows: J rows of one member's A against R rows of x (float32), each
// weight and input loaded once for R * J products.
template <int R, int J, typename W>
inline void shrink_tile(const W* a, int64_t in, const float* x, float* h, int64_t h_stride, int64_t keep) {
  __m512 acc[R][J];
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < J; ++j) acc[i][j] = _mm512_setzero_ps();
  for (int64_t c = 0; c < in; c += 16) {
    __m512 w[J];
    for (int j = 0; j < J; ++j) w[j] = load16(a + j * in + c);
    for (int i = 0; i < R; ++i) {
      const __m512 xv = _mm512_loadu_ps(x + i * in + c);
      for (int j = 0; j < J; ++j) acc[i][j] = _mm512_fmadd_ps(w[j], xv, acc[i][j]);
    }
  }
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < keep; ++j) h[i * h_stride + j] = _mm512_reduce_add_ps(acc[i][j]);
}

template <int J, typename W>
inline void shrink_rows(const W* a, int64_t in, const float* x, int64_t rows, float* h, int64_t h_stride, int64_t keep) {
  for (int64_t i0 = 0; i0 < rows; i0 += kRows) {
    const float* xi = x + i0 * in;
    float* hi = h + i0 * h_stride;
    switch (std::min(kRows, rows - i0)) {
      case 1:
        shrink_tile<1, J>(a, in, xi, hi, h_stride, keep);
        break;
      case 2:
        shrink_tile<2, J>(a, in, xi, hi, h_stride, keep);
        break;
      case 3:
        shrink_tile<3, J>(a, in, xi, hi, h_stride, keep);
        break;
      default:
        shrink_tile<4, J>(a, in, xi, hi, h_stride, keep);
        break;
    }
  }
}

// The same for bfloat16 A and inputs where the CPU multiplies bfloat16 pairs itself (vdpbf16ps: exact
// products, float32 sums): 32 inputs per instruction straight from the rows, none widened first. A
// prompt's rows are many per adapter, so these products, not reading the tables, are their cost.
bool has_bf16_dot() {
  static const bool has = __builtin_cpu_supports("avx512bf16");
  return has;
}

template <int R, int J>
__attribute__((target("avx512bf16"))) inline void shrink_tile_bf16(const c10::BFloat16* a, int64_t in, const c10::BFloat16* const* x,
                                                                   float* h, int64_t h_stride, int64_t keep) {
  __m512 acc[R][J];
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < J; ++j) acc[i][j] = _mm512_setzero_ps();
  for (int64_t c = 0; c < in; c += 32) {
    __m512bh w[J];
    for (int j = 0; j < J; ++j) w[j] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(a + j * in + c));
    for (int i = 0; i < R; ++i) {
      const __m512bh xv = reinterpret_cast<__m512bh>(_mm512_loadu_si512(x[i] + c));
      for (int j = 0; j < J; ++j) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], w[j], xv);
    }
  }
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < keep; ++j) h[i * h_stride + j] = _mm512_reduce_add_ps(acc[i][j]);
}

// `rows` rows of x given by their pointers
template <int J>
__attribute__((target("avx512bf16"))) void shrink_rows_bf16(const c10::BFloat16* a, int64_t in, const c10::BFloat16* const* x, int64_t rows,
                                                            float* h, int64_t h_stride, int64_t keep) {
  for (int64_t i0 = 0; i0 < rows; i0 += kRows) {
    float* hi = h + i0 * h_stride;
    switch (std::min(kRows, rows - i0)) {
      case 1:
        shrink_tile_bf16<1, J>(a, in, x + i0, hi, h_stride, keep);
        break;
      case 2:
        shrink_tile_bf16<2, J>(a, in, x + i0, hi, h_stride, keep);
        break;
      case 3:
        shrink_tile_bf16<3, J>(a, in, x + i0, hi, h_stride, keep);
        break;
      default:
        shrink_tile_bf16<4, J>(a, in, x + i0, hi, h_stride, keep);
        break;
    }
  }
}

// out[order[i], :16 V] += h[i, :rank] @ B[:rank, :16 V] for R rows, two ranks per vdpbf16ps: b holds
// the chunk's B as bfloat16 pairs (ranks 2p, 2p + 1 of one output in 32 bits), [pairs][kChunk], and
// hp each row's h rounded to bfloat16 pairs, [rows][pairs] (the rounding a bfloat16 matmul makes).
template <int R, int V, typename T>
__attribute__((target("avx512bf16"))) inline void expand_tile_bf16(const uint32_t* b, int64_t pairs, const uint32_t* hp,
                                                                   const int64_t* order, T* out, int64_t out_stride) {
  __m512 acc[R][V];
  for (int i = 0; i < R; ++i)
    for (int v = 0; v < V; ++v) acc[i][v] = _mm512_setzero_ps();
  for (int64_t p = 0; p < pairs; ++p) {
    __m512bh w[V];
    for (int v = 0; v < V; ++v) w[v] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(b + p * kChunk + 16 * v));
    for (int i = 0; i < R; ++i) {
      const __m512bh hv = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(hp[i * pairs + p])));
      for (int v = 0; v < V; ++v) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], w[v], hv);
    }
  }
  for (int i = 0; i < R; ++i) {
    T* o = out + order[i] * out_stride;
    for (int v = 0; v < V; ++v) store16(o + 16 * v, _mm512_add_ps(load16(o + 16 * v), acc[i][v]));
  }
}

template <int V, typename T>
__attribute__((target("avx512bf16"))) void expand_rows_bf16(const uint32_t* b, int64_t pairs, const uint32_t* hp, const int64_t* order,
                                                            int64_t rows, T* out, int64_t out_stride) {
  for (int64_t i0 = 0; i0 < rows; i0 += kRows) {
    const uint32_t* hi = hp + i0 * pairs;
    switch (std::min(kRows, rows - i0)) {
      case 1:
        expand_tile_bf16<1, V>(b, pairs, hi, order + i0, out, out_stride);
        break;
      case 2:
        expand_tile_bf16<2, V>(b, pairs, hi, order + i0, out, out_stride);
        break;
      case 3:
        expand_tile_bf16<3, V>(b, pairs, hi, order + i0, out, out_stride);
        break;
      default:
        expand_tile_bf16<4, V>(b, pairs, hi, order + i0, out, out_stride);
        break;
    }
  }
}

inline uint32_t bf16_pair(float low, float high) {
  return static_cast<uint32_t>(c10::BFloat16(low).x) | (static_cast<uint32_t>(c10::BFloat16(high).x) << 16);
}

// out[order[i], :16 V] += h[i, :rank] @ B[:rank, :16 V] for R rows.
template <int R, int V, typename W, typename T>
inline void expand_tile(const W* b, int64_t rank, int64_t out_width, const float* h, int64_t h_stride, const int64_t* order, T* out,
                        int64_t out_stride) {
  __m512 acc[R][V];
  for (int i = 0; i < R; ++i)
    for (int v = 0; v < V; ++v) acc[i][v] = _mm512_setzero_ps();
  for (int64_t j = 0; j < rank; ++j) {
    __m512 w[V];
    for (int v = 0; v < V; ++v) w[v] = load16(b + j * out_width + 16 * v);
    for (int i = 0; i < R; ++i) {
      const __m512 hv = _mm512_set1_ps(h[i * h_stride + j]);
      for (int v = 0; v < V; ++v) acc[i][v] = _mm512_fmadd_ps(hv, w[v], acc[i][v]);
    }
  }
  for (int i = 0; i < R; ++i) {
    T* o = out + order[i] * out_stride;
    for (int v = 0; v < V; ++v) store16(o + 16 * v, _mm512_add_ps(load16(o + 16 * v), acc[i][v]));
  }
}

template <int V, typename W, typename T>
void expand_rows(const W* b, int64_t rank, int64_t out_width, const float* h, int64_t h_stride, const int64_t* order, int64_t rows, T* out,
                 int64_t out_stride) {
  for (int64_t i0 = 0; i0 < rows; i0 += kRows) {
    const float* hi = h + i0 * h_stride;
    switch (std::min(kRows, rows - i0)) {
      case 1:
        expand_tile<1, V>(b, rank, out_width, hi, h_stride, order + i0, out, out_stride);
        break;
      case 2:
        expand_tile<2, V>(b, rank, out_width, hi, h_stride, order + i0, out, out_stride);
        break;
      case 3:
        expand_tile<3, V>(b, rank, out_width, hi, h_stride, order + i0, out, out_stride);
        break;
      default:
        expand_tile<4, V>(b, rank, out_width, hi, h_stride, order + i0, out, out_stride);
        break;
    }
  }
}

// ---- 8-bit tables with VNNI -------------------------------------------------------------------

constexpr int64_t kQBlock = 64;  // inputs per quantization block of x: one vpdpbusd

// The first min(count, 16) lanes of a register (none for count <= 0).
inline __mmask16 lanes(int64_t count) {
  return count >= 16 ? static_cast<__mmask16>(0xffff) : count <= 0 ? 0 : static_cast<__mmask16>((1u << count) - 1);
}

// A row of inputs as int8 per block of 64 with its scales; returns the sum over blocks of
// scale * 128 * sum(q), what the + 128 of the weights adds to a dot product. A block that is not
// finite gets a NaN scale, so the row's deltas turn NaN (int8 has no NaN).
template <typename T>
inline float quantize_blocks(const T* x, int64_t in, int8_t* q, float* scale) {
  float correction = 0.0f;
  const __m512 inf = _mm512_set1_ps(std::numeric_limits<float>::infinity());
  for (int64_t b = 0; b < in / kQBlock; ++b) {
    const T* xb = x + b * kQBlock;
    __m512 v[4], amax = _mm512_setzero_ps();
    bool finite = true;
    for (int k = 0; k < 4; ++k) {
      v[k] = load16(xb + 16 * k);
      const __m512 a = _mm512_abs_ps(v[k]);
      finite = finite && _mm512_cmp_ps_mask(a, inf, _CMP_NLT_UQ) == 0;
      amax = _mm512_max_ps(amax, a);
    }
    const float top = finite ? _mm512_reduce_max_ps(amax) : 0.0f;
    const __m512 inverse = _mm512_set1_ps(top > 0.0f ? 127.0f / top : 0.0f);
    __m512i sum = _mm512_setzero_si512();
    for (int k = 0; k < 4; ++k) {
      const __m512i qi = _mm512_cvtps_epi32(_mm512_mul_ps(v[k], inverse));
      sum = _mm512_add_epi32(sum, qi);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + b * kQBlock + 16 * k), _mm512_cvtsepi32_epi8(qi));
    }
    scale[b] = finite ? top / 127.0f : std::numeric_limits<float>::quiet_NaN();
    correction += scale[b] * 128.0f * static_cast<float>(_mm512_reduce_add_epi32(sum));
  }
  return correction;
}

// h[i, j0 + jj] for jj < keep, R rows: J rows of one member's 8-bit A against R quantized rows.
template <int R, int J>
inline void shrink_tile8(const uint8_t* a, const float* a_scale, int64_t in, const int8_t* xq, const float* xs, const float* xc, float* h,
                         int64_t h_stride, int64_t keep) {
  const int64_t blocks = in / kQBlock;
  __m512 acc[R][J];
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < J; ++j) acc[i][j] = _mm512_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    __m512i w[J];
    for (int j = 0; j < J; ++j) w[j] = _mm512_loadu_si512(a + j * in + b * kQBlock);
    for (int i = 0; i < R; ++i) {
      const __m512i xv = _mm512_loadu_si512(xq + i * in + b * kQBlock);
      const __m512 s = _mm512_set1_ps(xs[i * blocks + b]);
      for (int j = 0; j < J; ++j) {
        acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), w[j], xv)), s, acc[i][j]);
      }
    }
  }
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < keep; ++j) h[i * h_stride + j] = (_mm512_reduce_add_ps(acc[i][j]) - xc[i]) * a_scale[j];
}

template <int J>
inline void shrink_rows8(const uint8_t* a, const float* a_scale, int64_t in, const int8_t* xq, const float* xs, const float* xc,
                         int64_t rows, float* h, int64_t h_stride, int64_t keep) {
  const int64_t blocks = in / kQBlock;
  for (int64_t i0 = 0; i0 < rows; i0 += kRows) {
    const int8_t* q = xq + i0 * in;
    const float* s = xs + i0 * blocks;
    const float* c = xc + i0;
    float* hi = h + i0 * h_stride;
    switch (std::min(kRows, rows - i0)) {
      case 1:
        shrink_tile8<1, J>(a, a_scale, in, q, s, c, hi, h_stride, keep);
        break;
      case 2:
        shrink_tile8<2, J>(a, a_scale, in, q, s, c, hi, h_stride, keep);
        break;
      case 3:
        shrink_tile8<3, J>(a, a_scale, in, q, s, c, hi, h_stride, keep);
        break;
      default:
        shrink_tile8<4, J>(a, a_scale, in, q, s, c, hi, h_stride, keep);
        break;
    }
  }
}

// out[order[i], :16 V] += delta for R rows: 4 ranks per vpdpbusd against one chunk of 8-bit B,
// [quads][b_width][4].
// hq: each row's quantized h of this member (stride q_stride), hs its scale and hc 128 * sum(hq)
// (stride s_stride).
template <int R, int V, typename T>
inline void expand_tile8(const uint8_t* b, const c10::BFloat16* b_scale, int64_t quads, int64_t b_width, const int8_t* hq, int64_t q_stride,
                         const float* hs, const float* hc, int64_t s_stride, const int64_t* order, T* out, int64_t out_stride) {
  __m512i acc[R][V];
  for (int i = 0; i < R; ++i)
    for (int v = 0; v < V; ++v) acc[i][v] = _mm512_setzero_si512();
  for (int64_t j4 = 0; j4 < quads; ++j4) {
    __m512i w[V];
    for (int v = 0; v < V; ++v) w[v] = _mm512_loadu_si512(b + (j4 * b_width + 16 * v) * 4);
    for (int i = 0; i < R; ++i) {
      int32_t four;
      std::memcpy(&four, hq + i * q_stride + 4 * j4, sizeof four);
      const __m512i hv = _mm512_set1_epi32(four);
      for (int v = 0; v < V; ++v) acc[i][v] = _mm512_dpbusd_epi32(acc[i][v], w[v], hv);
    }
  }
  for (int i = 0; i < R; ++i) {
    T* o = out + order[i] * out_stride;
    const __m512 correction = _mm512_set1_ps(hc[i * s_stride]);
    const __m512 s = _mm512_set1_ps(hs[i * s_stride]);
    for (int v = 0; v < V; ++v) {
      const __m512 dot = _mm512_sub_ps(_mm512_cvtepi32_ps(acc[i][v]), correction);
      const __m512 scale = load16(b_scale + 16 * v);
      const __m512 delta = _mm512_mul_ps(_mm512_mul_ps(dot, s), scale);
      store16(o + 16 * v, _mm512_add_ps(load16(o + 16 * v), delta));
    }
  }
}

template <int V, typename T>
void expand_rows8(const uint8_t* b, const c10::BFloat16* b_scale, int64_t quads, int64_t b_width, const int8_t* hq, int64_t q_stride,
                  const float* hs, const float* hc, int64_t s_stride, const int64_t* order, int64_t rows, T* out, int64_t out_stride) {
  for (int64_t i0 = 0; i0 < rows; i0 += kRows) {
    const int8_t* q = hq + i0 * q_stride;
    const float* s = hs + i0 * s_stride;
    const float* c = hc + i0 * s_stride;
    switch (std::min(kRows, rows - i0)) {
      case 1:
        expand_tile8<1, V>(b, b_scale, quads, b_width, q, q_stride, s, c, s_stride, order + i0, out, out_stride);
        break;
      case 2:
        expand_tile8<2, V>(b, b_scale, quads, b_width, q, q_stride, s, c, s_stride, order + i0, out, out_stride);
        break;
      case 3:
        expand_tile8<3, V>(b, b_scale, quads, b_width, q, q_stride, s, c, s_stride, order + i0, out, out_stride);
        break;
      default:
        expand_tile8<4, V>(b, b_scale, quads, b_width, q, q_stride, s, c, s_stride, order + i0, out, out_stride);
        break;
    }
  }
}

// ---- the call: rows grouped by slot, work items over both threads ------------------------------

struct Shrink {
  int64_t group, member, begin, end;  // rows [begin, end) of the group (positions in `order`)
};

struct Expand {
  int64_t group, member, c0, width;  // outputs [c0, c0 + width), a multiple of 16, at most kChunk
};

struct Work {
  std::vector<Shrink> shrinks;
  std::vector<Expand> expands;
};

Work plan(const std::vector<Group>& groups, const int64_t* ranks, const int64_t* members, at::IntArrayRef bounds) {
  Work work;
  const int64_t n = bounds.size() - 1;
  for (int64_t g = 0; g < static_cast<int64_t>(groups.size()); ++g) {
    const int64_t slot = groups[g].slot;
    for (int64_t m = 0; m < n; ++m) {
      if (ranks[slot] == 0 || !((members[slot] >> m) & 1)) continue;
      // an adapter with many rows (one adapter for the whole batch) is split by rows too, so both threads work
      for (int64_t i = groups[g].begin; i < groups[g].end; i += kShrinkRows) {
        work.shrinks.push_back({g, m, i, std::min(i + kShrinkRows, groups[g].end)});
      }
      for (int64_t c0 = bounds[m]; c0 < bounds[m + 1]; c0 += kChunk)
        work.expands.push_back({g, m, c0, std::min(kChunk, bounds[m + 1] - c0)});
    }
  }
  return work;
}

// Phases one after the other in one team of threads, each phase's items shared out over the team:
// a step makes 120 calls, and a fork and join per phase cost more than a small phase itself.
void in_phases(const std::vector<std::pair<int64_t, std::function<void(int64_t)>>>& phases) {
  int64_t most = 1;
  for (const auto& phase : phases) most = std::max(most, phase.first);
  const int threads = static_cast<int>(std::min<int64_t>(at::get_num_threads(), most));
#pragma omp parallel num_threads(threads)
  for (const auto& [items, run] : phases) {
#pragma omp for schedule(static)
    for (int64_t k = 0; k < items; ++k) run(k);
  }
}

template <typename T, typename W>
void run_float(T* out, int64_t out_stride, const T* xp, int64_t x_stride, int64_t in, const W* a, const W* b, int64_t rmax,
               int64_t out_width, int64_t n, const std::vector<int64_t>& order, const std::vector<Group>& groups, const Work& work,
               const int64_t* ranks) {
  const int64_t width = n * rmax, rows = order.size();
  // bfloat16 A and inputs multiplied as they are, or the inputs widened to float32 first
  constexpr bool bf16_pairs = std::is_same_v<T, c10::BFloat16> && std::is_same_v<W, c10::BFloat16>;
  const bool dot = bf16_pairs && in % 32 == 0 && has_bf16_dot();
  // the rows' inputs in float32 in slot order, and their A products: buffers of the calling thread
  thread_local std::vector<float> xf_buffer, h_buffer;
  xf_buffer.resize(dot ? 0 : rows * in);
  h_buffer.resize(rows * width);
  float *xf = xf_buffer.data(), *h = h_buffer.data();
  auto widen_x = [&](int64_t i) {
    for (int64_t c = 0; c < in; c += 16) _mm512_storeu_ps(xf + i * in + c, load16(xp + order[i] * x_stride + c));
  };
  auto shrink = [&](int64_t k) {
    const Shrink& item = work.shrinks[k];
    const int64_t slot = groups[item.group].slot, rank = ranks[slot], rows = item.end - item.begin;
    const W* am = a + (slot * width + item.member * rmax) * in;
    float* hm = h + item.begin * width + item.member * rmax;
    if constexpr (bf16_pairs) {
      if (dot) {
        const T* x[kShrinkRows];
        for (int64_t i = 0; i < rows; ++i) x[i] = xp + order[item.begin + i] * x_stride;
        int64_t j = 0;
        for (; j < rank && j + 4 <= rmax; j += 4)
          shrink_rows_bf16<4>(am + j * in, in, x, rows, hm + j, width, std::min<int64_t>(4, rank - j));
        for (; j < rank; ++j) shrink_rows_bf16<1>(am + j * in, in, x, rows, hm + j, width, 1);
        return;
      }
    }
    const float* x = xf + item.begin * in;
    int64_t j = 0;  // four rows of A at a time: past the rank they are zeros, inside the member's block
    for (; j < rank && j + 4 <= rmax; j += 4) shrink_rows<4>(am + j * in, in, x, rows, hm + j, width, std::min<int64_t>(4, rank - j));
    for (; j < rank; ++j) shrink_rows<1>(am + j * in, in, x, rows, hm + j, width, 1);
  };
  auto expand = [&](int64_t k) {
    const Expand& e = work.expands[k];
    const Group& g = groups[e.group];
    const W* bc = b + g.slot * rmax * out_width + e.c0;
    const float* hm = h + g.begin * width + e.member * rmax;
    const int64_t* rows = order.data() + g.begin;
    const int64_t count = g.end - g.begin, rank = ranks[g.slot];
    if constexpr (bf16_pairs) {
      if (dot) {
        // the chunk's B and the rows' h as bfloat16 pairs, in buffers of the thread running the item
        const int64_t pairs = (rank + 1) / 2;
        thread_local std::vector<uint32_t> b_pairs, h_pairs;
        b_pairs.resize(pairs * kChunk);
        h_pairs.resize(count * pairs);
        const uint16_t* bits = reinterpret_cast<const uint16_t*>(bc);
        for (int64_t p = 0; p < pairs; ++p) {
          for (int64_t o = 0; o < e.width; ++o) {
            const uint32_t high = 2 * p + 1 < rank ? bits[(2 * p + 1) * out_width + o] : 0;
            b_pairs[p * kChunk + o] = static_cast<uint32_t>(bits[2 * p * out_width + o]) | (high << 16);
          }
        }
        for (int64_t i = 0; i < count; ++i) {
          const float* hi = hm + i * width;
          for (int64_t p = 0; p < pairs; ++p) h_pairs[i * pairs + p] = bf16_pair(hi[2 * p], 2 * p + 1 < rank ? hi[2 * p + 1] : 0.0f);
        }
        switch (e.width / 16) {
          case 1:
            expand_rows_bf16<1>(b_pairs.data(), pairs, h_pairs.data(), rows, count, out + e.c0, out_stride);
            break;
          case 2:
            expand_rows_bf16<2>(b_pairs.data(), pairs, h_pairs.data(), rows, count, out + e.c0, out_stride);
            break;
          case 3:
            expand_rows_bf16<3>(b_pairs.data(), pairs, h_pairs.data(), rows, count, out + e.c0, out_stride);
            break;
          default:
            expand_rows_bf16<4>(b_pairs.data(), pairs, h_pairs.data(), rows, count, out + e.c0, out_stride);
            break;
        }
        return;
      }
    }
    switch (e.width / 16) {
      case 1:
        expand_rows<1>(bc, rank, out_width, hm, width, rows, count, out + e.c0, out_stride);
        break;
      case 2:
        expand_rows<2>(bc, rank, out_width, hm, width, rows, count, out + e.c0, out_stride);
        break;
      case 3:
        expand_rows<3>(bc, rank, out_width, hm, width, rows, count, out + e.c0, out_stride);
        break;
      default:
        expand_rows<4>(bc, rank, out_width, hm, width, rows, count, out + e.c0, out_stride);
        break;
    }
  };
  in_phases({{dot ? 0 : rows, widen_x},
             {static_cast<int64_t>(work.shrinks.size()), shrink},
             {static_cast<int64_t>(work.expands.size()), expand}});
}

template <typename T>
void run_int8(T* out, int64_t out_stride, const T* xp, int64_t x_stride, int64_t in, const uint8_t* a, const float* a_scale,
              const uint8_t* b, const c10::BFloat16* b_scale, int64_t rmax, int64_t out_width, int64_t n, const std::vector<int64_t>& order,
              const std::vector<Group>& groups, const Work& work, const int64_t* ranks) {
  const int64_t width = n * rmax, rows = order.size(), blocks = in / kQBlock;
  thread_local std::vector<int8_t> xq_buffer, hq_buffer;
  thread_local std::vector<float> xs_buffer, xc_buffer, h_buffer, hs_buffer, hc_buffer;
  xq_buffer.resize(rows * in);
  xs_buffer.resize(rows * blocks);
  xc_buffer.resize(rows);
  h_buffer.resize(rows * width);
  hq_buffer.resize(rows * width);
  hs_buffer.resize(rows * n);
  hc_buffer.resize(rows * n);
  int8_t* xq = xq_buffer.data();
  float *xs = xs_buffer.data(), *xc = xc_buffer.data(), *h = h_buffer.data();
  auto quantize_x = [&](int64_t i) { xc[i] = quantize_blocks(xp + order[i] * x_stride, in, xq + i * in, xs + i * blocks); };
  // each row's h per member as int8 (one scale per row and member), zero past the adapter's rank
  int8_t* hq = hq_buffer.data();
  float *hs = hs_buffer.data(), *hc = hc_buffer.data();
  auto quantize_h = [&](int64_t i, int64_t m, int64_t rank) {
    const __m512 inf = _mm512_set1_ps(std::numeric_limits<float>::infinity());
    const float* hm = h + i * width + m * rmax;
    __m512 amax = _mm512_setzero_ps();
    bool finite = true;
    for (int64_t j = 0; j < rank; j += 16) {
      const __m512 v = _mm512_abs_ps(_mm512_maskz_loadu_ps(lanes(rank - j), hm + j));
      finite = finite && _mm512_cmp_ps_mask(v, inf, _CMP_NLT_UQ) == 0;
      amax = _mm512_max_ps(amax, v);
    }
    const float top = finite ? _mm512_reduce_max_ps(amax) : 0.0f;
    const __m512 inverse = _mm512_set1_ps(top > 0.0f ? 127.0f / top : 0.0f);
    __m512i sum = _mm512_setzero_si512();
    for (int64_t j = 0; j < rmax; j += 16) {  // zero past the rank
      const __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(lanes(rank - j), hm + j), inverse));
      _mm512_mask_cvtsepi32_storeu_epi8(hq + i * width + m * rmax + j, lanes(rmax - j), q);
      sum = _mm512_add_epi32(sum, q);
    }
    hs[i * n + m] = finite ? top / 127.0f : std::numeric_limits<float>::quiet_NaN();
    hc[i * n + m] = 128.0f * static_cast<float>(_mm512_reduce_add_epi32(sum));
  };
  // a work item's rows and member: its A products, then their h quantized (no phase of its own)
  auto shrink = [&](int64_t k) {
    const Shrink& item = work.shrinks[k];
    const int64_t slot = groups[item.group].slot, rank = ranks[slot], count = item.end - item.begin;
    const int64_t row = slot * width + item.member * rmax;
    const int8_t* q = xq + item.begin * in;
    const float* s = xs + item.begin * blocks;
    const float* c = xc + item.begin;
    float* hm = h + item.begin * width + item.member * rmax;
    int64_t j = 0;
    for (; j < rank && j + 4 <= rmax; j += 4) {
      shrink_rows8<4>(a + (row + j) * in, a_scale + row + j, in, q, s, c, count, hm + j, width, std::min<int64_t>(4, rank - j));
    }
    for (; j < rank; ++j) shrink_rows8<1>(a + (row + j) * in, a_scale + row + j, in, q, s, c, count, hm + j, width, 1);
    for (int64_t i = item.begin; i < item.end; ++i) quantize_h(i, item.member, rank);
  };
  auto expand = [&](int64_t k) {
    const Expand& e = work.expands[k];
    const Group& g = groups[e.group];
    const int64_t quads = (ranks[g.slot] + 3) / 4;
    const uint8_t* bc = b + (g.slot * out_width + e.c0) * rmax;  // the chunk's block: [quads][width][4]
    const c10::BFloat16* sc = b_scale + g.slot * out_width + e.c0;
    const int8_t* q = hq + g.begin * width + e.member * rmax;
    const float* s = hs + g.begin * n + e.member;
    const float* c = hc + g.begin * n + e.member;
    const int64_t* rows = order.data() + g.begin;
    const int64_t count = g.end - g.begin;
    switch (e.width / 16) {
      case 1:
        expand_rows8<1>(bc, sc, quads, e.width, q, width, s, c, n, rows, count, out + e.c0, out_stride);
        break;
      case 2:
        expand_rows8<2>(bc, sc, quads, e.width, q, width, s, c, n, rows, count, out + e.c0, out_stride);
        break;
      case 3:
        expand_rows8<3>(bc, sc, quads, e.width, q, width, s, c, n, rows, count, out + e.c0, out_stride);
        break;
      default:
        expand_rows8<4>(bc, sc, quads, e.width, q, width, s, c, n, rows, count, out + e.c0, out_stride);
        break;
    }
  };
  in_phases({{rows, quantize_x}, {static_cast<int64_t>(work.shrinks.size()), shrink}, {static_cast<int64_t>(work.expands.size()), expand}});
}

void lora_add(at::Tensor out, const at::Tensor& x, const at::Tensor& a, const std::optional<at::Tensor>& a_scale, const at::Tensor& b,
              const std::optional<at::Tensor>& b_scale, const at::Tensor& row_slots, const at::Tensor& ranks, const at::Tensor& members,
              at::IntArrayRef bounds) {
  TORCH_CHECK(x.dim() == 2 && out.dim() == 2 && x.stride(1) == 1 && out.stride(1) == 1, "lora_add: x and out must be row-major matrices");
  TORCH_CHECK(x.scalar_type() == out.scalar_type() && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16),
              "lora_add: x and out must share one dtype, float32 or bfloat16");
  const auto weights = a.scalar_type();
  const bool int8 = weights == at::kByte;
  TORCH_CHECK(b.scalar_type() == weights && (weights == at::kFloat || weights == at::kBFloat16 || int8),
              "lora_add: a and b must share one dtype, float32, bfloat16 or uint8");
  TORCH_CHECK(a.dim() == 3 && b.dim() == (int8 ? 2 : 3) && a.is_contiguous() && b.is_contiguous(),
              "lora_add: a must be contiguous [slots, n * rmax, in], b [slots, rmax, out] (uint8: [slots, rmax * out])");
  const int64_t slots = a.size(0), in = x.size(1), n = static_cast<int64_t>(bounds.size()) - 1, out_width = out.size(1);
  const int64_t rmax = n >= 1 ? a.size(1) / n : 0;
  TORCH_CHECK(n >= 1 && bounds[0] == 0 && bounds[n] == out_width, "lora_add: bounds must split out's columns");
  TORCH_CHECK(int8 ? b.size(1) == rmax * out_width && rmax % 4 == 0 : b.size(1) == rmax && b.size(2) == out_width,
              "lora_add: b does not match a and out (uint8 tables need a rank that divides by 4)");
  for (int64_t m = 0; m < n; ++m) {
    TORCH_CHECK(bounds[m + 1] > bounds[m] && bounds[m + 1] % 16 == 0, "lora_add: member outputs must be multiples of 16");
  }
  TORCH_CHECK(in % (int8 ? kQBlock : 16) == 0 && a.size(2) == in && a.size(1) == n * rmax && b.size(0) == slots,
              "lora_add: tables do not match the shapes (in must divide by 16, by 64 for uint8 tables)");
  TORCH_CHECK(int8 == a_scale.has_value() && int8 == b_scale.has_value(), "lora_add: uint8 tables, and only they, come with scales");
  if (int8) {
    TORCH_CHECK(a_scale->scalar_type() == at::kFloat && a_scale->is_contiguous() && a_scale->numel() == slots * n * rmax,
                "lora_add: a_scale must be contiguous float32 [slots, n * rmax]");
    TORCH_CHECK(b_scale->scalar_type() == at::kBFloat16 && b_scale->is_contiguous() && b_scale->numel() == slots * out_width,
                "lora_add: b_scale must be contiguous bfloat16 [slots, out]");
  }
  TORCH_CHECK(row_slots.dim() == 1 && row_slots.size(0) <= x.size(0) && x.size(0) == out.size(0),
              "lora_add: one slot per leading row of x");
  TORCH_CHECK(row_slots.scalar_type() == at::kLong && ranks.scalar_type() == at::kLong && members.scalar_type() == at::kLong &&
                  row_slots.is_contiguous() && ranks.is_contiguous() && members.is_contiguous() && ranks.numel() == slots &&
                  members.numel() == slots,
              "lora_add: row_slots, ranks and members must be contiguous int64, ranks and members one per slot");
  const int64_t* rs = row_slots.data_ptr<int64_t>();
  const int64_t* rk = ranks.data_ptr<int64_t>();
  for (int64_t s = 0; s < slots; ++s)
    TORCH_CHECK(rk[s] >= 0 && rk[s] <= rmax, "lora_add: rank ", rk[s], " of slot ", s, " is outside [0, ", rmax, "]");
  std::vector<int64_t> order;
  for (int64_t t = 0; t < row_slots.size(0); ++t) {
    TORCH_CHECK(rs[t] >= 0 && rs[t] < slots, "lora_add: slot ", rs[t], " is outside the ", slots, " slots");
    if (rs[t] > 0) order.push_back(t);
  }
  if (order.empty()) return;
  std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return rs[i] < rs[j]; });
  std::vector<Group> groups;
  for (int64_t i = 0; i < static_cast<int64_t>(order.size()); ++i) {
    if (groups.empty() || groups.back().slot != rs[order[i]]) groups.push_back({rs[order[i]], i, i});
    groups.back().end = i + 1;
  }
  const Work work = plan(groups, rk, members.data_ptr<int64_t>(), bounds);
  auto go = [&](auto* type) {
    using scalar_t = std::remove_pointer_t<decltype(type)>;
    const scalar_t* xp = x.data_ptr<scalar_t>();
    scalar_t* op = out.data_ptr<scalar_t>();
    if (int8) {
      run_int8(op, out.stride(0), xp, x.stride(0), in, a.data_ptr<uint8_t>(), a_scale->data_ptr<float>(), b.data_ptr<uint8_t>(),
               b_scale->data_ptr<c10::BFloat16>(), rmax, out_width, n, order, groups, work, rk);
    } else if (weights == at::kBFloat16) {
      run_float(op, out.stride(0), xp, x.stride(0), in, a.data_ptr<c10::BFloat16>(), b.data_ptr<c10::BFloat16>(), rmax, out_width, n, order,
                groups, work, rk);
    } else {
      run_float(op, out.stride(0), xp, x.stride(0), in, a.data_ptr<float>(), b.data_ptr<float>(), rmax, out_width, n, order, groups, work,
                rk);
    }
  };
  if (x.scalar_type() == at::kBFloat16) {
    go(static_cast<c10::BFloat16*>(nullptr));
  } else {
    go(static_cast<float*>(nullptr));
  }
}

}  // namespace

// the schema is defined in build.py, with the fake implementation torch.compile traces in lora_add.py
TORCH_LIBRARY_IMPL(tuneserve, CPU, m) { m.impl("lora_add", &lora_add); }
