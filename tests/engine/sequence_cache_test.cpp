// Pins engine/sequence_cache.cpp: slots keep positions and values through growth, F16 rounds
// values to half precision, truncate drops slots, and layers without attention store nothing.
#include <gtest/gtest.h>

#include <vector>

#include "engine/sequence_cache.hpp"
#include "kernels/cpu/quant.hpp"

namespace ragent::engine {
namespace {

ModelConfig two_layer_config() {
  ModelConfig c;
  c.head_dim = 4;
  c.layers = {LayerConfig{AttentionKind::Normal, 4, 2, FfnKind::Normal, 8},
              LayerConfig{AttentionKind::NoOp, 0, 0, FfnKind::Normal, 8}};
  return c;
}

std::vector<float> row(int64_t slot, float offset) {
  std::vector<float> v(8);
  for (size_t i = 0; i < v.size(); ++i) v[i] = offset + 0.001f * static_cast<float>(slot * 8 + static_cast<int64_t>(i));
  return v;
}

void fill(SequenceCache& cache, int64_t n, int32_t first_position) {
  for (int64_t i = 0; i < n; ++i) {
    const int32_t position = first_position + static_cast<int32_t>(i);
    const int64_t slot = cache.append(&position, 1);
    ASSERT_EQ(slot, i);
    cache.write(0, slot, row(slot, 1.0f).data(), row(slot, -1.0f).data());
  }
}

TEST(SequenceCache, F32KeepsValuesAndPositionsThroughGrowth) {
  ContiguousSequenceCache cache(two_layer_config(), KvType::F32);
  fill(cache, 100, 7);
  EXPECT_EQ(cache.size_tokens(), 100);
  EXPECT_GE(cache.capacity_tokens(), 100);
  std::vector<float> keys(100 * 8), values(100 * 8);
  cache.read(0, 0, 100, keys.data(), values.data());
  for (int64_t s = 0; s < 100; ++s) {
    EXPECT_EQ(cache.position(s), 7 + s);
    for (int64_t i = 0; i < 8; ++i) {
      ASSERT_EQ(keys[static_cast<size_t>(s * 8 + i)], row(s, 1.0f)[static_cast<size_t>(i)]);
      ASSERT_EQ(values[static_cast<size_t>(s * 8 + i)], row(s, -1.0f)[static_cast<size_t>(i)]);
    }
  }
}

TEST(SequenceCache, F16RoundsToHalfPrecision) {
  ContiguousSequenceCache cache(two_layer_config(), KvType::F16);
  fill(cache, 20, 0);
  std::vector<float> keys(5 * 8), values(5 * 8);
  cache.read(0, 10, 5, keys.data(), values.data());
  for (int64_t s = 0; s < 5; ++s) {
    for (int64_t i = 0; i < 8; ++i) {
      const float k = row(10 + s, 1.0f)[static_cast<size_t>(i)];
      EXPECT_EQ(keys[static_cast<size_t>(s * 8 + i)], kernels::f16_to_f32(kernels::f32_to_f16(k)));
    }
  }
}

TEST(SequenceCache, TruncateDropsLaterSlots) {
  ContiguousSequenceCache cache(two_layer_config(), KvType::F32);
  fill(cache, 10, 0);
  cache.truncate(4);
  EXPECT_EQ(cache.size_tokens(), 4);
  const int32_t position = 50;
  EXPECT_EQ(cache.append(&position, 1), 4);
  EXPECT_EQ(cache.position(4), 50);
  cache.truncate(20);  // never grows
  EXPECT_EQ(cache.size_tokens(), 5);
}

}  // namespace
}  // namespace ragent::engine
