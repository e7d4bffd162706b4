// Model::load (format detection) and the GGUF file adapter for the mapping in model_gguf.cpp.
#include <array>
#include <fstream>

#include "engine/gguf.hpp"
#include "engine/model.hpp"

namespace ragent::engine {

namespace {

// MetadataSource over a GgufFile; type errors name the file and key.
class GgufMetadata final : public MetadataSource {
 public:
  explicit GgufMetadata(const GgufFile& file) : file_(file) {}

  std::optional<std::string> get_string(std::string_view key) const override { return file_.get_string(key); }
  std::optional<uint64_t> get_u64(std::string_view key) const override { return file_.get_u64(key); }
  std::optional<double> get_f64(std::string_view key) const override { return file_.get_f64(key); }
  std::optional<bool> get_bool(std::string_view key) const override { return file_.get_bool(key); }

  std::optional<std::vector<uint64_t>> get_u64_values(std::string_view key) const override {
    const GgufValue* value = file_.find(key);
    if (value == nullptr) return std::nullopt;
    try {
      if (value->type != GgufValueType::ARRAY) return std::vector<uint64_t>{value->as_u64()};
      std::vector<uint64_t> out;
      for (const GgufValue& v : value->as_array().values) out.push_back(v.as_u64());
      return out;
    } catch (const EngineError& e) {
      throw EngineError(file_.path().string() + ": key '" + std::string(key) + "': " + e.what());
    }
  }

 private:
  const GgufFile& file_;
};

TensorCatalog catalog_of(const GgufFile& file) {
  TensorCatalog catalog;
  for (const GgufTensorInfo& t : file.tensors()) {
    // GGUF lists dimensions innermost first; views are outermost first.
    std::vector<int64_t> shape(t.ne.rbegin(), t.ne.rend());
    catalog.views.emplace(t.name, TensorView{t.name, t.type, std::move(shape), t.data, static_cast<size_t>(t.nbytes)});
  }
  return catalog;
}

bool starts_with_gguf_magic(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::array<char, 4> magic{};
  return in.read(magic.data(), magic.size()) && std::string_view(magic.data(), magic.size()) == "GGUF";
}

}  // namespace

Model Model::load_gguf(const std::filesystem::path& file) {
  auto gguf = std::make_shared<GgufFile>(GgufFile::open(file));
  const std::string source = file.string();
  TensorCatalog catalog = catalog_of(*gguf);
  ModelConfig config = gguf_model_config(GgufMetadata(*gguf), catalog, source);
  ModelWeights weights = bind_model_weights(config, TensorNaming::Gguf, catalog, source);
  return Model(std::move(config), std::move(weights), std::move(gguf), file);
}

Model Model::load(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    if (std::filesystem::is_regular_file(path / "config.json", ec)) return load_hf(path);
    throw EngineError(path.string() + ": directory has no config.json (expected a Hugging Face model directory)");
  }
  if (!std::filesystem::exists(path, ec)) throw EngineError(path.string() + ": no such file or directory");
  if (starts_with_gguf_magic(path)) return load_gguf(path);
  throw EngineError(path.string() +
                    ": not a model: expected a GGUF file (magic 'GGUF') or a directory with config.json");
}

}  // namespace ragent::engine
