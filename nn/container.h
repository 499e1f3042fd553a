// Containers: Sequential, ModuleList, ModuleDict.
#pragma once

#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "twig/nn/module.h"

namespace twig::nn {

// Children "0", "1", ...; forward feeds each output to the next child.
class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  Sequential(std::initializer_list<ModulePtr> modules);
  explicit Sequential(const std::vector<ModulePtr>& modules);
  void push_back(ModulePtr m);
  size_t size() const { return children_dict().size(); }
  // Negative indices count from the end; IndexError when out of range.
  ModulePtr operator[](int64_t index) const;
  using Module::operator();
  Value forward_values(const Values& inputs) override;

 protected:
  ModulePtr clone_instance() const override;
};

class ModuleList : public Module {
 public:
  ModuleList() : Module("ModuleList") {}
  ModuleList(std::initializer_list<ModulePtr> modules);
  void push_back(ModulePtr m);
  size_t size() const { return children_dict().size(); }
  ModulePtr operator[](int64_t index) const;
  Value forward_values(const Values&) override;

 protected:
  ModulePtr clone_instance() const override;
};

class ModuleDict : public Module {
 public:
  ModuleDict() : Module("ModuleDict") {}
  void insert(const std::string& key, ModulePtr m) { register_child(key, std::move(m)); }
  bool contains(const std::string& key) const { return is_child(key); }
  ModulePtr operator[](const std::string& key) const;
  size_t size() const { return children_dict().size(); }
  Value forward_values(const Values&) override;

 protected:
  ModulePtr clone_instance() const override;
};

}  // namespace twig::nn
