#include "twig/nn/container.h"

namespace twig::nn {

namespace {
ModulePtr at_index(const Module& m, int64_t index) {
  int64_t n = static_cast<int64_t>(m.children_dict().size());
  TWIG_CHECK(index >= -n && index < n, IndexError, "index ", index, " is out of range for ", m.type_name(),
             " of length ", n);
  if (index < 0) index += n;
  return m.children_dict().items()[static_cast<size_t>(index)].second;
}
}  // namespace

Sequential::Sequential(std::initializer_list<ModulePtr> modules) : Module("Sequential") {
  for (const auto& m : modules) push_back(m);
}

Sequential::Sequential(const std::vector<ModulePtr>& modules) : Module("Sequential") {
  for (const auto& m : modules) push_back(m);
}

void Sequential::push_back(ModulePtr m) { register_child(std::to_string(size()), std::move(m)); }

ModulePtr Sequential::operator[](int64_t index) const { return at_index(*this, index); }

Value Sequential::forward_values(const Values& inputs) {
  TWIG_CHECK(inputs.size() == 1, TypeError, "Sequential.forward() takes 1 input but ", inputs.size(), " were given");
  Value x = inputs[0];
  for (const auto& [name, m] : children_dict()) x = m->call({x});
  return x;
}

ModuleList::ModuleList(std::initializer_list<ModulePtr> modules) : Module("ModuleList") {
  for (const auto& m : modules) push_back(m);
}

void ModuleList::push_back(ModulePtr m) { register_child(std::to_string(size()), std::move(m)); }

ModulePtr ModuleList::operator[](int64_t index) const { return at_index(*this, index); }

Value ModuleList::forward_values(const Values&) {
  TWIG_THROW(NotImplementedError, "ModuleList is a container and has no forward; call its elements");
}

ModulePtr ModuleDict::operator[](const std::string& key) const {
  ModulePtr m = child(key);
  TWIG_CHECK(m != nullptr, KeyError, "'", key, "'");
  return m;
}

Value ModuleDict::forward_values(const Values&) {
  TWIG_THROW(NotImplementedError, "ModuleDict is a container and has no forward; call its elements");
}

// Copies for clone(); out of line so no user translation unit instantiates make_shared for them.
ModulePtr Sequential::clone_instance() const { return std::make_shared<Sequential>(*this); }
ModulePtr ModuleList::clone_instance() const { return std::make_shared<ModuleList>(*this); }
ModulePtr ModuleDict::clone_instance() const { return std::make_shared<ModuleDict>(*this); }

}  // namespace twig::nn
