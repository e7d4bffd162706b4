// Stop strings over streamed text: decides, piece by piece, which decoded text may be shown and
// whether the output now contains a stop string.
//
// Text that could still turn into a stop string (a suffix of what was pushed that is a prefix of
// one) is held back; everything before it is released. When a stop string appears, the text
// before it is released, the stop string and anything after it are dropped, and the matcher
// stays matched. Pieces must be whole UTF-8 characters (StreamDecoder output); then released text
// never splits a character.
//
// Thread safety: none; one matcher per generation.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ragent::engine {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stop_strings);  // empty strings are ignored

  // Appends `piece` and returns the text that can be released now. After a match returns "".
  std::string push(std::string_view piece);
  bool matched() const { return matched_; }
  // End of output without a match: releases and clears what is held.
  std::string flush();

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool matched_ = false;
};

}  // namespace ragent::engine
