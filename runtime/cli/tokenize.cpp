// ragent tokenize -m MODEL [--file F | TEXT] and ragent detokenize -m MODEL IDS...
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "engine/error.hpp"
#include "engine/tokenizer_load.hpp"
#include "runtime/cli/commands.hpp"

namespace ragent::cli {
namespace {

struct TokenizeOptions {
  std::string model;
  std::string file;
  std::string text;
  bool no_bos = false;
  bool parse_special = false;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw engine::EngineError(path + ": cannot open for reading");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Accepts "1 2 3", "1,2,3" and "[1, 2, 3]" spread over any number of arguments.
std::vector<engine::TokenId> parse_ids(const std::vector<std::string>& args, size_t vocab_size) {
  std::string joined;
  for (const auto& a : args) joined += a + " ";
  for (char& c : joined) {
    if (c == '[' || c == ']' || c == ',') c = ' ';
  }
  std::istringstream in(joined);
  std::vector<engine::TokenId> ids;
  std::string word;
  while (in >> word) {
    size_t used = 0;
    long long id = -1;
    try {
      id = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != word.size() || id < 0 || static_cast<size_t>(id) >= vocab_size) {
      throw engine::EngineError("token id '" + word + "' is not an integer in [0, " + std::to_string(vocab_size) + ")");
    }
    ids.push_back(static_cast<engine::TokenId>(id));
  }
  return ids;
}

}  // namespace

void add_tokenize(CLI::App& app) {
  auto opts = std::make_shared<TokenizeOptions>();
  auto* tok = app.add_subcommand("tokenize", "Print the token ids of a text as a JSON array");
  tok->add_option("-m,--model", opts->model, "GGUF file or Hugging Face directory")->required();
  auto* file_opt = tok->add_option("--file", opts->file, "read the text from this file");
  tok->add_option("TEXT", opts->text, "text to tokenize")->excludes(file_opt);
  tok->add_flag("--no-bos", opts->no_bos, "do not add BOS even when the model asks for it");
  tok->add_flag("--special", opts->parse_special, "recognise special tokens written in the text");
  tok->callback([opts] {
    const auto tokenizer = engine::load_tokenizer(opts->model);
    const std::string text = opts->file.empty() ? opts->text : read_file(opts->file);
    std::vector<engine::TokenId> ids;
    if (tokenizer.add_bos() && !opts->no_bos) ids.push_back(tokenizer.bos());
    const auto body = tokenizer.encode(text, opts->parse_special);
    ids.insert(ids.end(), body.begin(), body.end());
    std::string out = "[";
    for (size_t i = 0; i < ids.size(); ++i) out += (i ? ", " : "") + std::to_string(ids[i]);
    std::cout << out << "]\n";
  });

  auto ids_args = std::make_shared<std::vector<std::string>>();
  auto model = std::make_shared<std::string>();
  auto* detok = app.add_subcommand("detokenize", "Print the text of token ids");
  detok->add_option("-m,--model", *model, "GGUF file or Hugging Face directory")->required();
  detok->add_option("IDS", *ids_args, "token ids: 1 2 3 or [1, 2, 3]")->required();
  detok->callback([ids_args, model] {
    const auto tokenizer = engine::load_tokenizer(*model);
    const auto ids = parse_ids(*ids_args, tokenizer.vocab_size());
    std::cout << tokenizer.decode(ids) << "\n";
  });
}

}  // namespace ragent::cli
