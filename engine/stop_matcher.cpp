#include "engine/stop_matcher.hpp"

#include <algorithm>
#include <utility>

namespace ragent::engine {

StopMatcher::StopMatcher(std::vector<std::string> stop_strings) {
  for (auto& s : stop_strings) {
    if (!s.empty()) stops_.push_back(std::move(s));
  }
}

std::string StopMatcher::push(std::string_view piece) {
  if (matched_) return {};
  held_.append(piece);
  // Earliest stop string in what is held (held_ never contains one from before this piece).
  size_t first_match = std::string::npos;
  for (const auto& stop : stops_) first_match = std::min(first_match, held_.find(stop));
  if (first_match != std::string::npos) {
    matched_ = true;
    std::string released = held_.substr(0, first_match);
    held_.clear();
    return released;
  }
  // Keep the longest suffix that some stop string starts with; release the rest.
  size_t keep = 0;
  for (const auto& stop : stops_) {
    for (size_t n = std::min(stop.size() - 1, held_.size()); n > keep; --n) {
      if (std::string_view(held_).substr(held_.size() - n) == std::string_view(stop).substr(0, n)) {
        keep = n;
        break;
      }
    }
  }
  std::string released = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return released;
}

std::string StopMatcher::flush() {
  std::string released = std::move(held_);
  held_.clear();
  return released;
}

}  // namespace ragent::engine
