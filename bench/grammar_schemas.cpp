// Writes the generated half of the grammar benchmark's 200-schema set (the hand-written half
// is tests/grammar/schemas/): `build/grammar_schemas OUT_DIR [N] [SEED]` writes N (default
// 101) schemas from tests/support/schema_gen.hpp, the same ones the property tests use, as
// generated-000.json ... in OUT_DIR.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <boost/json.hpp>

#include "tests/support/schema_gen.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR [N] [SEED]\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  const size_t n = argc > 2 ? std::stoul(argv[2]) : 101;
  const uint64_t seed = argc > 3 ? std::stoull(argv[3]) : 1;
  std::filesystem::create_directories(dir);
  size_t i = 0;
  for (const boost::json::value& schema : ragent::grammar::testing::generated_schemas(n, seed)) {
    char name[32];
    std::snprintf(name, sizeof name, "generated-%03zu.json", i++);
    std::ofstream out(dir / name, std::ios::binary);
    out << boost::json::serialize(schema) << "\n";
    if (!out) {
      std::fprintf(stderr, "%s: cannot write\n", (dir / name).c_str());
      return 1;
    }
  }
  std::printf("%zu schemas in %s\n", i, dir.c_str());
  return 0;
}
