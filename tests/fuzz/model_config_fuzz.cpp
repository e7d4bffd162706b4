// libFuzzer target for config.json parsing: any input must give a config that passed
// validate_model_config, or throw EngineError.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "engine/model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ragent::engine;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    ModelConfig config = parse_hf_config(text, "config.json");
    if (config.n_layers() < 1 || config.n_layers() > kMaxModelLayers || config.head_dim < 1) std::abort();
    validate_model_config(config, "again");  // must not throw on a config that came back
  } catch (const EngineError&) {
  }
  return 0;
}
