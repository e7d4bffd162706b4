#include "engine/grammar/output_constraint.hpp"

#include <algorithm>

namespace ragent::grammar {

namespace {

// Up to four whitespace characters may open the answer (the template's "\n\n" after </think>).
Grammar with_leading_space(const Grammar& inner) {
  Grammar g = inner;
  const RuleId root = g.declare_rule("answer");
  g.define_rule(root, g.sequence({g.repeat(g.chars({{' ', ' '}, {'\t', '\t'}, {'\n', '\n'}, {'\r', '\r'}}), 0, 4),
                                  g.ref(inner.root())}));
  g.set_root(root);
  return g;
}

}  // namespace

std::shared_ptr<const ConstraintSpec> ConstraintSpec::tool_calls(std::span<const ToolGrammarSpec> tools, ToolChoice choice,
                                                                 std::shared_ptr<const Vocabulary> vocab,
                                                                 const ToolCallGrammarOptions& options) {
  auto spec = std::shared_ptr<ConstraintSpec>(new ConstraintSpec());
  spec->vocab_ = std::move(vocab);
  spec->choice_ = choice.mode;
  spec->tool_block_ = true;
  spec->trigger_ = &spec->vocab_->trigger_table(kToolCallTrigger);
  spec->thinking_end_ = &spec->vocab_->trigger_table(kThinkingEnd);
  spec->banned_.resize(kToolCallTrigger.size());
  switch (choice.mode) {
    case ToolChoiceMode::none:
      spec->lazy_ = true;
      break;
    case ToolChoiceMode::automatic:
      spec->lazy_ = true;
      spec->compiled_ = std::make_shared<CompiledGrammar>(tool_call_grammar(tools, options), spec->vocab_);
      break;
    case ToolChoiceMode::required:
    case ToolChoiceMode::named: {
      if (choice.mode == ToolChoiceMode::named && choice.name.empty()) {
        throw GrammarError("tool_choice: a named tool choice needs the tool's name");
      }
      const Grammar block = tool_call_grammar(tools, options, choice.mode == ToolChoiceMode::named ? choice.name : "", true);
      spec->compiled_ = std::make_shared<CompiledGrammar>(with_leading_space(block), spec->vocab_);
      break;
    }
  }
  return spec;
}

std::shared_ptr<const ConstraintSpec> ConstraintSpec::json_schema(const boost::json::value& schema,
                                                                  std::shared_ptr<const Vocabulary> vocab,
                                                                  const JsonSchemaOptions& options) {
  return grammar(compile_json_schema(schema, options), std::move(vocab));
}

std::shared_ptr<const ConstraintSpec> ConstraintSpec::grammar(const Grammar& g, std::shared_ptr<const Vocabulary> vocab) {
  auto spec = std::shared_ptr<ConstraintSpec>(new ConstraintSpec());
  spec->vocab_ = std::move(vocab);
  spec->thinking_end_ = &spec->vocab_->trigger_table(kThinkingEnd);
  spec->compiled_ = std::make_shared<CompiledGrammar>(with_leading_space(g), spec->vocab_);
  return spec;
}

const std::vector<int32_t>& ConstraintSpec::banned_in_free(uint32_t matched) const {
  std::lock_guard lock(mu_);
  auto& slot = banned_[matched];
  if (slot) return *slot;
  slot = std::make_unique<std::vector<int32_t>>();
  // Only a lazy grammar starts at the trigger; after a required block no other may begin.
  std::unique_ptr<Matcher> m = compiled_ && lazy_ ? std::make_unique<Matcher>(compiled_) : nullptr;
  for (const auto& [id, upto] : trigger_->completing[matched]) {
    bool ok = false;
    if (m) {
      m->reset();
      ok = m->accept_bytes(std::string_view(vocab_->token(id)).substr(upto));
    }
    if (!ok) slot->push_back(id);
  }
  return *slot;
}

OutputConstraint::OutputConstraint(std::shared_ptr<const ConstraintSpec> spec, bool thinking)
    : spec_(std::move(spec)), phase_(thinking ? Phase::thinking : spec_->lazy_ ? Phase::free : Phase::grammar) {
  if (spec_->compiled_) matcher_ = std::make_unique<Matcher>(spec_->compiled_);
}

void OutputConstraint::fail(std::string why) {
  if (error_.empty()) error_ = std::move(why);
}

void OutputConstraint::prepare() {
  prepared_valid_ = true;
  prepared_constrained_ = false;
  if (failed() || (phase_ != Phase::grammar && phase_ != Phase::done)) return;  // free: the ban list is cached
  prepared_.resize(mask_words(spec_->vocab_->size()));
  matcher_->fill_mask(prepared_);
  prepared_constrained_ = true;
}

bool OutputConstraint::fill_mask(std::span<uint64_t> words) {
  if (failed()) return false;
  switch (phase_) {
    case Phase::thinking: return false;
    case Phase::free: {
      const std::vector<int32_t>& banned = spec_->banned_in_free(matched_);
      if (banned.empty()) return false;
      for (int32_t id : banned) words[static_cast<size_t>(id) >> 6] &= ~(uint64_t{1} << (id & 63));
      return true;
    }
    case Phase::grammar:
    case Phase::done:
      if (!prepared_valid_ || !prepared_constrained_) prepare();
      if (!prepared_constrained_) return false;
      std::fill(words.begin(), words.end(), uint64_t{0});
      std::copy_n(prepared_.begin(), std::min(prepared_.size(), words.size()), words.begin());
      return true;
  }
  return false;
}

// Free text (and thinking) byte by byte: `</think>` ends thinking; `<TOOLCALL>` starts the
// grammar, which takes the rest of the bytes.
void OutputConstraint::feed_free(std::string_view bytes) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto byte = static_cast<uint8_t>(bytes[i]);
    if (phase_ == Phase::thinking) {
      matched_ = spec_->thinking_end_->step(matched_, byte);
      if (matched_ < kThinkingEnd.size()) continue;
      matched_ = 0;
      phase_ = spec_->lazy_ ? Phase::free : Phase::grammar;
      if (phase_ == Phase::grammar) {
        if (!matcher_->accept_bytes(bytes.substr(i + 1))) fail("output after </think> does not fit the grammar: " + matcher_->error());
        return;
      }
      continue;
    }
    matched_ = spec_->trigger_->step(matched_, byte);
    if (matched_ < kToolCallTrigger.size()) continue;
    matched_ = 0;
    ++calls_started_;
    if (!matcher_ || !spec_->lazy_) {
      fail(std::string("a <TOOLCALL> block was written ") + (matcher_ ? "after the required one" : "with tool_choice none") +
           ", at output byte " + std::to_string(output_bytes_ + i));
      return;
    }
    phase_ = Phase::grammar;
    matcher_->reset();
    if (!matcher_->accept_bytes(bytes.substr(i + 1))) {
      fail("the tool-call block does not fit the grammar: " + matcher_->error());
    } else if (matcher_->must_end() && spec_->tool_block_) {
      phase_ = Phase::free;
    }
    return;
  }
}

void OutputConstraint::accept(int32_t token) {
  prepared_valid_ = false;
  if (failed()) return;
  const Vocabulary& vocab = *spec_->vocab_;
  if (token < 0 || static_cast<size_t>(token) >= vocab.size()) {
    fail("token " + std::to_string(token) + " is outside the vocabulary");
    return;
  }
  const std::string& bytes = vocab.token(token);
  const bool special = !vocab.trie().included().test(static_cast<size_t>(token));
  if (phase_ == Phase::grammar || phase_ == Phase::done) {
    if (!matcher_->accept_token(token)) {
      fail("token " + std::to_string(token) + " at output byte " + std::to_string(output_bytes_) +
           " does not fit the grammar (" + matcher_->error() + ")");
      return;
    }
    if (matcher_->terminated()) {
      phase_ = Phase::done;
    } else if (matcher_->must_end()) {
      phase_ = spec_->tool_block_ ? Phase::free : Phase::done;
    }
  } else if (!special) {
    feed_free(bytes);
  }
  output_bytes_ += special ? 0 : bytes.size();
}

std::string OutputConstraint::forced_bytes(size_t max_bytes) {
  if (failed() || phase_ != Phase::grammar) return {};
  return matcher_->forced_bytes(max_bytes);
}

}  // namespace ragent::grammar
