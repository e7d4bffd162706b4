// Pins kernels/cpu/dot.cpp and its per-ISA kernels. Every level is requested explicitly (a
// level the CPU lacks runs the best one it has) and checked two ways:
//  * against a double-precision sum over dequantize_row(weights) times the dequantized
//    activations the kernel actually saw: only float rounding separates the two, so the bound
//    is 3e-5 of Σ|w x| (a wrong element costs about 1/cols of that sum, >= 1e-4 here);
//  * against the exact f32 activations, within the worst case of activation rounding: each
//    value moves by at most half its block's step, so |error| <= Σ |w_c| step_c / 2.
#include "kernels/cpu/dot.hpp"
#include "kernels/cpu/dot_impl.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace ragent::kernels {
namespace {

const QuantType kTypes[] = {QuantType::F32,  QuantType::F16,  QuantType::BF16, QuantType::Q8_0,
                            QuantType::Q4_0, QuantType::Q4_K, QuantType::Q5_K, QuantType::Q6_K};
const Isa kIsas[] = {Isa::Scalar, Isa::Avx2, Isa::Avx512};

bool is_integer(QuantType t) {
  return t != QuantType::F32 && t != QuantType::F16 && t != QuantType::BF16;
}

std::vector<float> random_values(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& f : v) f = dist(rng);
  // A few outliers, as real activations have.
  for (size_t i = 0; i < v.size(); i += 97) v[i] *= 6.0f;
  return v;
}

// rows x cols quantized weights, stored `offset` bytes into the buffer.
struct Matrix {
  std::vector<uint8_t> storage;
  size_t offset = 0;
  size_t row_bytes = 0;
  std::vector<float> dequant;  // rows * cols
  const uint8_t* data() const { return storage.data() + offset; }
  const uint8_t* row(int64_t r) const { return data() + static_cast<size_t>(r) * row_bytes; }
};

Matrix make_matrix(QuantType type, int64_t rows, int64_t cols, uint32_t seed, size_t offset = 0) {
  Matrix m;
  m.offset = offset;
  m.row_bytes = row_bytes(type, cols);
  m.storage.assign(offset + m.row_bytes * static_cast<size_t>(rows), 0);
  m.dequant.resize(static_cast<size_t>(rows * cols));
  const std::vector<float> w = random_values(rows * cols, seed, 0.05f);
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* dst = m.storage.data() + offset + static_cast<size_t>(r) * m.row_bytes;
    quantize_row(type, w.data() + r * cols, dst, cols);
    dequantize_row(type, dst, m.dequant.data() + r * cols, cols);
  }
  return m;
}

// The activations a kernel multiplies by, and the half-step of each value's rounding.
struct SeenActivations {
  std::vector<float> values;
  std::vector<float> half_step;
};

SeenActivations dequantize_prepared(QuantType type, const void* prepared, const float* x, int64_t cols) {
  SeenActivations s{std::vector<float>(x, x + cols), std::vector<float>(static_cast<size_t>(cols), 0.0f)};
  if (type == QuantType::Q8_0 || type == QuantType::Q4_0) {
    const auto* b = static_cast<const BlockQ8A*>(prepared);
    for (int64_t i = 0; i < cols; ++i) {
      s.values[i] = b[i / 32].qs[i % 32] * b[i / 32].d;
      s.half_step[i] = 0.5f * b[i / 32].d;
    }
  } else if (is_integer(type)) {
    const auto* b = static_cast<const BlockQ8K*>(prepared);
    for (int64_t i = 0; i < cols; ++i) {
      s.values[i] = b[i / 256].qs[i % 256] * b[i / 256].d;
      s.half_step[i] = 0.5f * b[i / 256].d;
    }
  }
  return s;
}

// What gemm quantizes to: per 32 values on the AVX-512 tiled path, else quantize_activations.
SeenActivations gemm_seen(QuantType type, Isa isa, const float* x, int64_t cols) {
  const QuantType as = (usable_isa(isa) == Isa::Avx512 && is_integer(type)) ? QuantType::Q8_0 : type;
  std::vector<uint8_t> buf(activation_row_bytes(as, cols));
  quantize_activations(as, x, buf.data(), cols);
  return dequantize_prepared(as, buf.data(), x, cols);
}

struct Reference {
  double exact;      // with the activations the kernel saw
  double abs_sum;    // Σ |w x|
  double round_err;  // Σ |w| half_step
  double unquantized;
};

Reference reference_dot(const float* w, const SeenActivations& seen, const float* x, int64_t cols) {
  Reference ref{};
  for (int64_t i = 0; i < cols; ++i) {
    ref.exact += static_cast<double>(w[i]) * seen.values[i];
    ref.abs_sum += std::fabs(static_cast<double>(w[i]) * seen.values[i]);
    ref.round_err += std::fabs(static_cast<double>(w[i])) * seen.half_step[i];
    ref.unquantized += static_cast<double>(w[i]) * x[i];
  }
  return ref;
}

void expect_matches(double got, const Reference& ref, const std::string& what) {
  EXPECT_NEAR(got, ref.exact, 3e-5 * ref.abs_sum + 1e-30) << what;
  EXPECT_NEAR(got, ref.unquantized, ref.round_err + 3e-5 * ref.abs_sum + 1e-30) << what;
}

std::string label(QuantType t, Isa isa, int64_t cols) {
  return std::string(quant_type_name(t)) + " " + std::string(isa_name(isa)) + " cols=" + std::to_string(cols);
}

std::vector<int64_t> test_cols(QuantType t) {
  if (block_size(t) == kQK_K) return {256, 768, 2048};
  if (block_size(t) == kQK8_0) return {32, 96, 320, 2048};  // 1 and 3 blocks: odd counts
  return {1, 17, 64, 333, 2048};
}

TEST(Isa, ParsesNamesAndCapsAtWhatTheCpuHas) {
  EXPECT_EQ(parse_isa("scalar"), Isa::Scalar);
  EXPECT_EQ(parse_isa("avx2"), Isa::Avx2);
  EXPECT_EQ(parse_isa("avx512"), Isa::Avx512);
  EXPECT_FALSE(parse_isa("sse9").has_value());
  EXPECT_EQ(usable_isa(Isa::Scalar), Isa::Scalar);
  EXPECT_LE(usable_isa(Isa::Avx512), detected_isa());
  EXPECT_LE(default_isa(), detected_isa());
}

// A fresh process (death-test style "threadsafe" re-executes the binary) sees RAGENT_ISA.
TEST(IsaDeathTest, EnvironmentCapsTheDefault) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("RAGENT_ISA", "scalar", 1);
        std::exit(default_isa() == Isa::Scalar ? 0 : 1);
      },
      testing::ExitedWithCode(0), "");
}

TEST(QuantizeActivations, Q8KBlockSumsAndScale) {
  const std::vector<float> x = random_values(512, 7);
  std::vector<BlockQ8K> q(2);
  quantize_activations(QuantType::Q6_K, x.data(), q.data(), 512);
  for (int b = 0; b < 2; ++b) {
    float amax = 0;
    for (int i = 0; i < 256; ++i) amax = std::max(amax, std::fabs(x[256 * b + i]));
    EXPECT_FLOAT_EQ(q[b].d, amax / 127.0f);
    for (int s = 0; s < 16; ++s) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += q[b].qs[16 * s + i];
      EXPECT_EQ(q[b].bsums[s], sum);
    }
    for (int i = 0; i < 256; ++i) EXPECT_NEAR(q[b].qs[i] * q[b].d, x[256 * b + i], 0.5f * q[b].d * 1.0001f);
  }
}

TEST(QuantizeActivations, SameBytesAtEveryLevel) {
  // Random rows plus blocks of zeros, NaN, infinities, ties at .5 and values at the clamp.
  std::vector<float> x = random_values(2048, 9);
  for (int i = 0; i < 256; ++i) x[256 + i] = 0.0f;
  for (int i = 0; i < 256; ++i) x[512 + i] = static_cast<float>(i % 7) - 3.5f;
  x[800] = std::numeric_limits<float>::quiet_NaN();
  x[1100] = std::numeric_limits<float>::infinity();
  x[1400] = -std::numeric_limits<float>::infinity();
  x[1700] = 1e30f;
  for (QuantType t : {QuantType::Q8_0, QuantType::Q4_K}) {
    const size_t bytes = activation_row_bytes(t, 2048);
    std::vector<uint8_t> scalar(bytes);
    quantize_activations(t, x.data(), scalar.data(), 2048, Isa::Scalar);
    for (Isa isa : kIsas) {
      std::vector<uint8_t> got(bytes, 0xcd);
      quantize_activations(t, x.data(), got.data(), 2048, isa);
      EXPECT_EQ(got, scalar) << label(t, isa, 2048);
    }
  }
}

TEST(QuantizeActivations, Q8ABlockKeepsSumAndHandlesZeros) {
  std::vector<float> x = random_values(64, 8);
  for (int i = 32; i < 64; ++i) x[i] = 0.0f;
  std::vector<BlockQ8A> q(2);
  quantize_activations(QuantType::Q8_0, x.data(), q.data(), 64);
  int sum = 0;
  for (int i = 0; i < 32; ++i) sum += q[0].qs[i];
  EXPECT_EQ(q[0].sum, sum);
  EXPECT_EQ(q[1].d, 0.0f);
  EXPECT_EQ(q[1].sum, 0);
  EXPECT_EQ(activation_row_bytes(QuantType::Q4_0, 64), 2 * sizeof(BlockQ8A));
  EXPECT_EQ(activation_row_bytes(QuantType::Q5_K, 512), 2 * sizeof(BlockQ8K));
  EXPECT_EQ(activation_row_bytes(QuantType::BF16, 10), 40u);
}

TEST(VecDot, EveryTypeAndLevelMatchesDoubleReference) {
  for (QuantType t : kTypes) {
    for (int64_t cols : test_cols(t)) {
      const Matrix m = make_matrix(t, 1, cols, 100 + static_cast<uint32_t>(cols));
      const std::vector<float> x = random_values(cols, 200 + static_cast<uint32_t>(cols));
      std::vector<uint8_t> xq(activation_row_bytes(t, cols));
      quantize_activations(t, x.data(), xq.data(), cols);
      const Reference ref = reference_dot(m.dequant.data(), dequantize_prepared(t, xq.data(), x.data(), cols), x.data(), cols);
      const float scalar = vec_dot(t, cols, m.row(0), xq.data(), Isa::Scalar);
      for (Isa isa : kIsas) {
        const float got = vec_dot(t, cols, m.row(0), xq.data(), isa);
        expect_matches(got, ref, label(t, isa, cols));
        EXPECT_NEAR(got, scalar, 3e-5 * ref.abs_sum) << label(t, isa, cols) << " vs scalar";
      }
    }
  }
}

TEST(VecDot, UnalignedRowsAndActivations) {
  for (QuantType t : kTypes) {
    const int64_t cols = 512;
    // Weights 2 bytes past a 64-byte boundary (block alignment only), activations 4 bytes past.
    const Matrix m = make_matrix(t, 1, cols, 300, 2);
    const std::vector<float> x = random_values(cols, 301);
    std::vector<uint8_t> buf(activation_row_bytes(t, cols) + 64);
    uint8_t* xq = buf.data() + (64 - reinterpret_cast<uintptr_t>(buf.data()) % 64) % 64 + 4;
    ASSERT_LE(xq + activation_row_bytes(t, cols), buf.data() + buf.size());
    quantize_activations(t, x.data(), xq, cols);
    const Reference ref = reference_dot(m.dequant.data(), dequantize_prepared(t, xq, x.data(), cols), x.data(), cols);
    for (Isa isa : kIsas) expect_matches(vec_dot(t, cols, m.row(0), xq, isa), ref, label(t, isa, cols) + " unaligned");
  }
}

TEST(VecDot, ExtremeLevelsDoNotOverflow) {
  // All weights and activations at the ends of their ranges: the integer sums must not wrap.
  const int64_t cols = 4096;
  std::vector<float> w(cols), x(cols);
  for (int64_t i = 0; i < cols; ++i) {
    w[i] = (i % 2 ? -1.0f : 1.0f);
    x[i] = (i % 2 ? -3.0f : 3.0f);
  }
  for (QuantType t : kTypes) {
    std::vector<uint8_t> wq(row_bytes(t, cols));
    quantize_row(t, w.data(), wq.data(), cols);
    std::vector<float> wd(cols);
    dequantize_row(t, wq.data(), wd.data(), cols);
    std::vector<uint8_t> xq(activation_row_bytes(t, cols));
    quantize_activations(t, x.data(), xq.data(), cols);
    const Reference ref = reference_dot(wd.data(), dequantize_prepared(t, xq.data(), x.data(), cols), x.data(), cols);
    for (Isa isa : kIsas) expect_matches(vec_dot(t, cols, wq.data(), xq.data(), isa), ref, label(t, isa, cols) + " extreme");
    // The same row three times through gemv: the kernels that take rows two at a time too.
    std::vector<uint8_t> three(3 * wq.size());
    for (int r = 0; r < 3; ++r) std::copy(wq.begin(), wq.end(), three.begin() + r * static_cast<std::ptrdiff_t>(wq.size()));
    ThreadPool pool(1);
    for (Isa isa : kIsas) {
      std::vector<float> y(3);
      gemv(pool, t, three.data(), 3, cols, xq.data(), y.data(), isa);
      for (int r = 0; r < 3; ++r) expect_matches(y[r], ref, label(t, isa, cols) + " extreme gemv row " + std::to_string(r));
    }
  }
}

TEST(Gemv, OddRowCountsAndThreadCounts) {
  for (QuantType t : kTypes) {
    const int64_t rows = 37;
    const int64_t cols = 512;
    const Matrix m = make_matrix(t, rows, cols, 400);
    const std::vector<float> x = random_values(cols, 401);
    std::vector<uint8_t> xq(activation_row_bytes(t, cols));
    quantize_activations(t, x.data(), xq.data(), cols);
    const SeenActivations seen = dequantize_prepared(t, xq.data(), x.data(), cols);
    for (int threads = 1; threads <= 4; ++threads) {
      ThreadPool pool(threads);
      for (Isa isa : kIsas) {
        std::vector<float> y(rows, -1.0f);
        gemv(pool, t, m.data(), rows, cols, xq.data(), y.data(), isa);
        for (int64_t r = 0; r < rows; ++r) {
          const Reference ref = reference_dot(m.dequant.data() + r * cols, seen, x.data(), cols);
          expect_matches(y[r], ref, label(t, isa, cols) + " row " + std::to_string(r) + " threads " + std::to_string(threads));
        }
      }
    }
  }
}

TEST(Gemv, PartsOfMixedTypesEqualSeparateGemvs) {
  // Q, K, V of a Q4_K_M layer have two types; odd row counts leave partial chunks in each part.
  const int64_t cols = 512;
  const QuantType types[] = {QuantType::Q4_K, QuantType::Q4_K, QuantType::Q6_K, QuantType::Q8_0};
  const int64_t rows[] = {37, 5, 16, 70};
  std::vector<Matrix> ms;
  std::vector<std::vector<uint8_t>> xqs;
  const std::vector<float> x = random_values(cols, 402);
  for (int i = 0; i < 4; ++i) {
    ms.push_back(make_matrix(types[i], rows[i], cols, 410 + static_cast<uint32_t>(i)));
    xqs.emplace_back(activation_row_bytes(types[i], cols));
    quantize_activations(types[i], x.data(), xqs.back().data(), cols);
  }
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (Isa isa : kIsas) {
      std::vector<std::vector<float>> ys(4), expected(4);
      std::vector<GemvPart> parts;
      for (int i = 0; i < 4; ++i) {
        ys[static_cast<size_t>(i)].assign(static_cast<size_t>(rows[i]), -1.0f);
        expected[static_cast<size_t>(i)].assign(static_cast<size_t>(rows[i]), -2.0f);
        gemv(pool, types[i], ms[static_cast<size_t>(i)].data(), rows[i], cols, xqs[static_cast<size_t>(i)].data(),
             expected[static_cast<size_t>(i)].data(), isa);
        parts.push_back({types[i], ms[static_cast<size_t>(i)].data(), rows[i], xqs[static_cast<size_t>(i)].data(),
                         ys[static_cast<size_t>(i)].data()});
      }
      gemv_parts(pool, parts.data(), 4, cols, isa);
      EXPECT_EQ(ys, expected) << "isa " << isa_name(isa) << " threads " << threads;
    }
  }
}

TEST(AttentionRows, DotsAndAccumulationMatchDoubleReference) {
  // Rows of head_dim values inside wider rows (one head of several), as attention reads them.
  for (int64_t dim : {16, 64, 80, 128, 7}) {
    const int64_t n = 37, stride = dim * 3;
    const std::vector<float> rows = random_values(n * stride, 420 + static_cast<uint32_t>(dim));
    const std::vector<float> q = random_values(dim, 421);
    const std::vector<float> weights = random_values(n, 422);
    const std::vector<float> acc0 = random_values(dim, 423);
    for (Isa isa : kIsas) {
      std::vector<float> keys_t(static_cast<size_t>(n * dim)), scores(n);
      transpose_rows_f32(rows.data() + dim, n, dim, stride, keys_t.data(), isa);
      for (int64_t j = 0; j < n; ++j) {
        for (int64_t d = 0; d < dim; ++d) ASSERT_EQ(keys_t[static_cast<size_t>(d * n + j)], rows[static_cast<size_t>(j * stride + dim + d)]);
      }
      dot_transposed_f32(q.data(), keys_t.data(), n, dim, 0.5f, scores.data(), isa);
      std::vector<float> acc = acc0;
      accumulate_rows_f32(weights.data(), rows.data() + dim, n, dim, stride, acc.data(), isa);
      for (int64_t j = 0; j < n; ++j) {
        double ref = 0;
        for (int64_t d = 0; d < dim; ++d) ref += static_cast<double>(q[d]) * rows[j * stride + dim + d];
        EXPECT_NEAR(scores[j], 0.5 * ref, 1e-4) << isa_name(isa) << " dim " << dim << " j " << j;
      }
      for (int64_t d = 0; d < dim; ++d) {
        double ref = acc0[d];
        for (int64_t j = 0; j < n; ++j) ref += static_cast<double>(weights[j]) * rows[j * stride + dim + d];
        EXPECT_NEAR(acc[d], ref, 1e-4) << isa_name(isa) << " dim " << dim << " d " << d;
      }
    }
  }
}

void check_gemm(QuantType t, int64_t rows, int64_t cols, int64_t batch, int threads, Isa isa, size_t offset) {
  const Matrix m = make_matrix(t, rows, cols, 500 + static_cast<uint32_t>(rows), offset);
  const std::vector<float> x = random_values(batch * cols, 501 + static_cast<uint32_t>(batch));
  std::vector<float> y(static_cast<size_t>(batch * rows), -1.0f);
  ThreadPool pool(threads);
  gemm(pool, t, m.data(), rows, cols, x.data(), batch, y.data(), isa);
  for (int64_t b = 0; b < batch; ++b) {
    const SeenActivations seen = gemm_seen(t, isa, x.data() + b * cols, cols);
    for (int64_t r = 0; r < rows; ++r) {
      const Reference ref = reference_dot(m.dequant.data() + r * cols, seen, x.data() + b * cols, cols);
      expect_matches(y[b * rows + r], ref,
                     label(t, isa, cols) + " b=" + std::to_string(b) + " r=" + std::to_string(r) +
                         " threads=" + std::to_string(threads));
    }
  }
}

TEST(Gemm, EveryTypeAndLevelOddShapes) {
  for (QuantType t : kTypes) {
    const int64_t cols = block_size(t) == kQK8_0 ? 96 * 23 : 2304;  // odd block count; > one K chunk
    for (Isa isa : kIsas) check_gemm(t, 13, cols, 7, 2, isa, 0);
  }
}

TEST(Gemm, ThreadCountsBatchesAndUnalignedWeights) {
  for (QuantType t : {QuantType::Q8_0, QuantType::Q4_0, QuantType::Q4_K, QuantType::Q6_K}) {
    for (int threads = 1; threads <= 4; ++threads) {
      for (int64_t batch : {1, 4, 9}) check_gemm(t, 21, 512, batch, threads, Isa::Avx512, threads == 3 ? 2 : 0);
    }
  }
}

TEST(Gemm, LargeBatchMatchesGemvPerRow) {
  // The prefill shape: batch 64; each activation's output column equals a GEMV within rounding.
  const QuantType t = QuantType::Q8_0;
  check_gemm(t, 64, 2048, 64, 2, default_isa(), 0);
}

TEST(AttentionRows, ExpShiftedMatchesStdExpAndMasksInfinity) {
  std::mt19937 rng(440);
  std::uniform_real_distribution<float> dist(-110.0f, 5.0f);
  for (Isa isa : kIsas) {
    std::vector<float> x(53);
    for (float& v : x) v = dist(rng);
    x[3] = -INFINITY;
    x[17] = 0.0f;
    const float shift = 2.5f;
    std::vector<float> expected(x.size());
    double expected_sum = 0;
    for (size_t j = 0; j < x.size(); ++j) {
      expected[j] = std::exp(x[j] - shift);
      expected_sum += expected[j];
    }
    const float sum = exp_shifted_f32(x.data(), static_cast<int64_t>(x.size()), shift, isa);
    EXPECT_EQ(x[3], 0.0f) << isa_name(isa);
    for (size_t j = 0; j < x.size(); ++j) {
      EXPECT_NEAR(x[j], expected[j], 1e-6 * expected[j] + 1e-38f) << isa_name(isa) << " j " << j;
    }
    EXPECT_NEAR(sum, expected_sum, 1e-6 * expected_sum) << isa_name(isa);
  }
}

TEST(AttentionRows, SwigluMatchesStdExpAtTheExtremes) {
  std::mt19937 rng(441);
  std::uniform_real_distribution<float> dist(-30.0f, 30.0f);
  std::vector<float> gate0(70), up(70);
  for (size_t i = 0; i < gate0.size(); ++i) {
    gate0[i] = dist(rng);
    up[i] = dist(rng);
  }
  gate0[0] = 0.0f;
  gate0[1] = 120.0f;   // exp(-g) underflows: silu(g) = g
  gate0[2] = -120.0f;  // exp(-g) overflows: silu(g) = -0
  for (Isa isa : kIsas) {
    std::vector<float> gate = gate0;
    swiglu_f32(gate.data(), up.data(), static_cast<int64_t>(gate.size()), isa);
    for (size_t i = 0; i < gate.size(); ++i) {
      const double g = gate0[i];
      const double expected = g / (1.0 + std::exp(-g)) * up[i];
      EXPECT_NEAR(gate[i], expected, 2e-6 * std::fabs(expected) + 1e-30) << isa_name(isa) << " i " << i;
    }
  }
}

TEST(Gemm, FloatWeightsRaggedTilesAndColumns) {
  // Float weights take the 4 x 4 register tile: row, activation and column counts that leave
  // partial tiles and a partial last vector (cols % 16 != 0), more than one 64-activation block.
  for (QuantType t : {QuantType::F32, QuantType::F16, QuantType::BF16}) {
    for (Isa isa : kIsas) {
      check_gemm(t, 7, 37, 70, 2, isa, 2);
      check_gemm(t, 18, 1000, 5, 3, isa, 0);
    }
  }
}

TEST(Gemm, PackedActivationsAreTheSameBytesAtEveryLevel) {
  // The AVX-512 packing must reproduce the portable one byte for byte, zeros, NaN and
  // infinities included, for an odd block count (the last pair half empty).
  const detail::PackFn fast = detail::avx512_table().pack;
  if (fast == nullptr || usable_isa(Isa::Avx512) != Isa::Avx512) GTEST_SKIP() << "no AVX-512 packing here";
  const int64_t cols = 32 * 7;
  std::vector<float> x = random_values(cols, 430);
  for (int i = 32; i < 64; ++i) x[static_cast<size_t>(i)] = 0.0f;          // an all-zero block
  x[70] = std::nanf("");                                                    // NaN beside finite values
  x[100] = -INFINITY;                                                       // an infinite block maximum
  for (int i = 128; i < 160; ++i) x[static_cast<size_t>(i)] = 0.5f * static_cast<float>(i % 7 - 3);  // exact ties
  for (int offset : {0, 8, 32, 128}) {
    std::vector<detail::PackedPair> a(4), b(4);
    detail::pack_activations_portable(x.data(), cols, offset, a.data());
    fast(x.data(), cols, offset, b.data());
    ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(detail::PackedPair)), 0) << "offset " << offset;
  }
}

TEST(ThreadPool, CoversEveryItemOnceAndIsReusable) {
  for (int n = 1; n <= 4; ++n) {
    ThreadPool pool(n);
    EXPECT_EQ(pool.size(), n);
    for (int round = 0; round < 300; ++round) {
      const int64_t items = 1 + round % 97;
      const int64_t grain = 1 + round % 5;
      std::vector<std::atomic<int>> hits(static_cast<size_t>(items));
      std::atomic<bool> chunk_too_big{false};
      pool.parallel_for(items, grain, [&](int64_t begin, int64_t end) {
        if (end - begin > grain || begin >= end) chunk_too_big = true;
        for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
      });
      ASSERT_FALSE(chunk_too_big.load());
      for (const auto& h : hits) ASSERT_EQ(h.load(), 1) << "threads " << n << " round " << round;
    }
    pool.parallel_for(0, 1, [&](int64_t, int64_t) { ADD_FAILURE() << "called for an empty range"; });
  }
}

TEST(ThreadPool, UsesMoreThanOneThreadWhenItemsWait) {
  // Items that take a while leave time for the worker to join: both threads must take part.
  ThreadPool pool(2);
  std::atomic<int> callers_seen{0};
  std::vector<std::thread::id> ids(64);
  pool.parallel_for(64, 1, [&](int64_t begin, int64_t) {
    ids[static_cast<size_t>(begin)] = std::this_thread::get_id();
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  });
  for (const auto& id : ids) callers_seen += id != ids[0] ? 1 : 0;
  EXPECT_GT(callers_seen.load(), 0);
}

}  // namespace
}  // namespace ragent::kernels
