// The tests' matcher for the grammar IR: whole-text matches decided from each expression
// kind's definition (engine/grammar/ir_match.hpp), apart from the byte-level automata that
// constrained decoding runs.
#pragma once

#include "engine/grammar/ir_match.hpp"

namespace ragent::grammar::testing {

using ReferenceMatcher = IrMatcher;

}  // namespace ragent::grammar::testing
