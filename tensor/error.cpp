#include "twig/tensor/error.h"

#include <sstream>

namespace twig::detail {

MessageBuilder::MessageBuilder() : os_(std::make_unique<std::ostringstream>()) {}

MessageBuilder::~MessageBuilder() = default;

std::ostream& MessageBuilder::stream() { return *os_; }

std::string MessageBuilder::str() const { return os_->str(); }

}  // namespace twig::detail
