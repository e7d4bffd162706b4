// The one exception type of the engine module. Messages say what is wrong and where
// (file, byte offset, key or tensor name, line:column), so a user can act on them.
#pragma once

#include <stdexcept>
#include <string>

namespace ragent::engine {

class EngineError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace ragent::engine
