#include "twig/ao/scheduler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <utility>

#include "twig/tensor/error.h"
#include "twig/tensor/warning.h"

namespace twig::ao {

namespace {

// Python's int: bool or int (True * 2 == 2).
bool is_py_int(const Object& o) { return o.is_bool() || o.is_int(); }

void check_number(const Object& o, const char* what) {
  TWIG_CHECK(o.is_number(), TypeError, what, " must be a number (int or float), got ", o.type_name(), " ", o.repr());
}

// Python's a * b on numbers: an int when both are ints, a float otherwise.
Object py_mul(const Object& a, const Object& b) {
  TWIG_CHECK(a.is_number() && b.is_number(), TypeError, "unsupported operand type(s) for *: '", a.type_name(),
             "' and '", b.type_name(), "' (", a.repr(), " * ", b.repr(), ")");
  if (is_py_int(a) && is_py_int(b)) return Object(a.to_int() * b.to_int());
  return Object(a.to_double() * b.to_double());
}

// Python's truth value of a number.
bool py_truthy(const Object& o) { return is_py_int(o) ? o.to_int() != 0 : o.to_double() != 0.0; }

Object tuple_of(const std::vector<Object>& items) { return Object(nn::Tuple(items.begin(), items.end())); }

// A state_dict value that must be a tuple whose items pass `check` (TypeError naming the key).
template <typename Check>
void check_tuple(const std::string& key, const Object& value, Check check, const char* item_kind) {
  TWIG_CHECK(value.is_tuple(), TypeError, "scheduler state_dict: '", key, "' must be a tuple of ", item_kind, ", got ",
             value.type_name(), " ", value.repr());
  for (const auto& item : value.to_tuple()) {
    TWIG_CHECK(check(item), TypeError, "scheduler state_dict: '", key, "' must be a tuple of ", item_kind, ", got ",
               value.repr());
  }
}

// Python's '{:.4e}'.format(sl) takes numbers only.
void check_printable(const Object& sl) {
  TWIG_CHECK(sl.is_number(), ValueError, "Unknown format code 'e' for object of type '", sl.type_name(),
             "' (sparsity level ", sl.repr(), ")");
}

bool is_number_item(const Object& o) { return o.is_number(); }

std::vector<Object> items_of(const Object& tuple) { return std::vector<Object>(tuple.to_tuple()); }

// Python's min(len(a), len(b), ...), the length zip() gives.
template <typename... V>
size_t zip_size(const V&... vs) {
  return std::min({vs.size()...});
}

const char* const kGetSlWarning =
    "To get the last sparsity level computed by the scheduler, please use `get_last_sl()`.";

}  // namespace

// ---- BaseScheduler --------------------------------------------------------------------------

BaseScheduler::BaseScheduler(BaseSparsifier& sparsifier, int64_t last_epoch, bool verbose)
    : last_epoch(last_epoch), verbose(verbose), sparsifier_(&sparsifier) {
  for (const auto& group : sparsifier.groups) base_sl.push_back(group.at("sparsity_level"));
}

BaseScheduler::~BaseScheduler() = default;

void BaseScheduler::initial_step() {
  step();
  // PyTorch wraps sparsifier.step with a counter starting from 0 here (before its first step,
  // which never warns); resetting after the step leaves the sparsifier as it was on failure.
  sparsifier_->step_count = 0;
}

void BaseScheduler::step(std::optional<int64_t> epoch) {
  // https://github.com/pytorch/pytorch/issues/20124: the sparsifier must step first. (PyTorch's
  // other warning here, for a sparsifier.step replaced after the scheduler wrapped it, cannot
  // happen in C++: step() is a member function, not an attribute.)
  if (step_count_ == 1 && sparsifier_->step_count < 1) {
    warn(
        "Detected call of `scheduler.step()` before `sparsifier.step()`. You have to make sure you run the "
        "sparsifier.step() BEFORE any calls to the scheduler.step().",
        "UserWarning");
  }
  auto& groups = sparsifier_->groups;
  std::vector<Object> values;
  std::vector<Object> last_sl;  // the levels after the update
  ++step_count_;
  ++last_epoch;
  try {
    get_sl_called_within_step_ = true;
    values = get_sl();
    get_sl_called_within_step_ = false;
    // Everything that can fail comes before the first write: a group without a level (KeyError)
    // and, when verbose, a level that cannot be printed.
    for (size_t i = 0; i < groups.size(); ++i) {
      last_sl.push_back(i < values.size() ? values[i] : groups[i].at("sparsity_level"));
    }
    if (verbose) {
      for (size_t i = 0; i < zip_size(groups, values); ++i) check_printable(values[i]);
    }
  } catch (...) {
    get_sl_called_within_step_ = false;
    --last_epoch;
    --step_count_;
    throw;
  }
  const size_t n = zip_size(groups, values);
  for (size_t i = 0; i < n; ++i) {
    groups[i].set("sparsity_level", values[i]);
    print_sl(verbose, static_cast<int64_t>(i), values[i], epoch);
  }
  last_sl_ = std::move(last_sl);
  sparsifier_->enable_mask_update = true;
}

void BaseScheduler::warn_if_get_sl_outside_step() const {
  if (!get_sl_called_within_step_) warn(kGetSlWarning, "UserWarning");
}

void BaseScheduler::print_sl(bool is_verbose, int64_t group, const Object& sl, std::optional<int64_t> epoch) const {
  if (!is_verbose) return;
  check_printable(sl);
  char level[64];
  std::snprintf(level, sizeof(level), "%.4e", sl.to_double());
  if (epoch) {
    char head[64];
    std::snprintf(head, sizeof(head), "Epoch %5lld: ", static_cast<long long>(*epoch));
    std::cout << head << "adjusting sparsity level of group " << group << " to " << level << ".\n";
  } else {
    std::cout << "Adjusting sparsity level of group " << group << " to " << level << ".\n";
  }
}

std::vector<Object> BaseScheduler::make_sure_a_list(const Object& var) const {
  const size_t n = sparsifier_->groups.size();
  if (!var.is_tuple()) return std::vector<Object>(n, var);
  const auto& items = var.to_tuple();
  TWIG_CHECK(items.size() == n, ValueError, "Expected variable of length ", n, ", but got ", items.size());
  return std::vector<Object>(items.begin(), items.end());
}

std::string BaseScheduler::repr() const {
  std::string out = type_name() + " (\n";
  out += "Sparsifier " + sparsifier_->repr() + "\n";
  out += "    base_sl: [";
  for (size_t i = 0; i < base_sl.size(); ++i) out += (i ? ", " : "") + base_sl[i].repr();
  out += "]\n)";
  return out;
}

Dict BaseScheduler::state_dict() const {
  Dict sd;
  own_state(sd);
  sd.set("base_sl", tuple_of(base_sl));
  sd.set("last_epoch", last_epoch);
  sd.set("_step_count", step_count_);
  sd.set("verbose", verbose);
  sd.set("_get_sl_called_within_step", get_sl_called_within_step_);
  sd.set("_last_sl", tuple_of(last_sl_));
  for (const auto& [key, value] : extra_state_) sd.set(key, value);
  return sd;
}

void BaseScheduler::load_state_dict(const Dict& sd) {
  auto is_int_value = [](const Object& v) { return v.is_int(); };
  auto is_flag = [](const Object& v) { return is_py_int(v); };
  // Every value first, so a bad one changes nothing.
  for (const auto& [key, value] : sd) {
    TWIG_CHECK(key != "sparsifier", ValueError,
               "scheduler state_dict: 'sparsifier' is not part of a scheduler's state (it stays attached to ",
               sparsifier_->type_name(), ")");
    if (key == "base_sl" || key == "_last_sl") {
      check_tuple(key, value, is_number_item, "numbers");
    } else if (key == "last_epoch" || key == "_step_count") {
      TWIG_CHECK(is_int_value(value), TypeError, "scheduler state_dict: '", key, "' must be an int, got ",
                 value.type_name(), " ", value.repr());
    } else if (key == "verbose" || key == "_get_sl_called_within_step") {
      TWIG_CHECK(is_flag(value), TypeError, "scheduler state_dict: '", key, "' must be a bool, got ", value.type_name(),
                 " ", value.repr());
    } else {
      check_own_state(key, value);
    }
  }
  for (const auto& [key, value] : sd) {
    if (key == "base_sl") {
      base_sl = items_of(value);
    } else if (key == "_last_sl") {
      last_sl_ = items_of(value);
    } else if (key == "last_epoch") {
      last_epoch = value.to_int();
    } else if (key == "_step_count") {
      step_count_ = value.to_int();
    } else if (key == "verbose") {
      verbose = value.to_int() != 0;
    } else if (key == "_get_sl_called_within_step") {
      get_sl_called_within_step_ = value.to_int() != 0;
    } else if (check_own_state(key, value)) {
      load_own_state(key, value);
    } else {
      extra_state_.set(key, value);
    }
  }
}

void BaseScheduler::own_state(Dict&) const {}

bool BaseScheduler::check_own_state(const std::string&, const Object&) const { return false; }

void BaseScheduler::load_own_state(const std::string&, const Object&) {}

// ---- LambdaSL -------------------------------------------------------------------------------

namespace {

Object lambda_object(SLLambda f, size_t index) {
  TWIG_CHECK(static_cast<bool>(f), TypeError, "LambdaSL: sl_lambda ", index, " is an empty function");
  return Object::function([f = std::move(f)](const std::vector<Object>& args) { return f(args.at(0).to_int()); });
}

}  // namespace

LambdaSL::LambdaSL(BaseSparsifier& sparsifier, SLLambda sl_lambda, int64_t last_epoch, bool verbose)
    : BaseScheduler(sparsifier, last_epoch, verbose) {
  // Python's [sl_lambda] * n: the same function object for every group.
  sl_lambdas.assign(sparsifier.groups.size(), lambda_object(std::move(sl_lambda), 0));
  initial_step();
}

LambdaSL::LambdaSL(BaseSparsifier& sparsifier, std::vector<SLLambda> sl_lambdas_, int64_t last_epoch, bool verbose)
    : BaseScheduler(sparsifier, last_epoch, verbose) {
  TWIG_CHECK(sl_lambdas_.size() == sparsifier.groups.size(), ValueError, "Expected ", sparsifier.groups.size(),
             " lr_lambdas, but got ", sl_lambdas_.size());
  for (size_t i = 0; i < sl_lambdas_.size(); ++i) sl_lambdas.push_back(lambda_object(std::move(sl_lambdas_[i]), i));
  initial_step();
}

std::vector<Object> LambdaSL::get_sl() {
  warn_if_get_sl_outside_step();
  std::vector<Object> levels;
  const Object epoch(last_epoch);
  for (size_t i = 0; i < zip_size(sl_lambdas, base_sl); ++i)
    levels.push_back(py_mul(base_sl[i], sl_lambdas[i]({epoch})));
  return levels;
}

void LambdaSL::own_state(Dict& sd) const { sd.set("sl_lambdas", tuple_of(sl_lambdas)); }

bool LambdaSL::check_own_state(const std::string& key, const Object& value) const {
  if (key != "sl_lambdas") return false;
  check_tuple(
      key, value, [](const Object& o) { return o.is_function(); }, "functions");
  return true;
}

void LambdaSL::load_own_state(const std::string& key, const Object& value) {
  if (key == "sl_lambdas") sl_lambdas = items_of(value);
}

// ---- CubicSL --------------------------------------------------------------------------------

namespace {

const char* const kCubicKeys[] = {"init_sl", "init_t", "delta_t", "total_t", "initially_zero"};

}  // namespace

CubicSL::CubicSL(BaseSparsifier& sparsifier, const Object& init_sl_, const Object& init_t_, const Object& delta_t_,
                 const Object& total_t_, const Object& initially_zero_, int64_t last_epoch, bool verbose)
    : BaseScheduler(sparsifier, last_epoch, verbose) {
  const std::pair<const char*, const Object*> given[] = {{"init_sl", &init_sl_},
                                                         {"init_t", &init_t_},
                                                         {"delta_t", &delta_t_},
                                                         {"total_t", &total_t_},
                                                         {"initially_zero", &initially_zero_}};
  std::vector<Object>* fields[] = {&init_sl, &init_t, &delta_t, &total_t, &initially_zero};
  for (size_t k = 0; k < 5; ++k) {
    *fields[k] = make_sure_a_list(*given[k].second);
    for (const auto& v : *fields[k]) {
      TWIG_CHECK(v.is_number(), TypeError, "CubicSL: ", given[k].first, " must be a number or a tuple of numbers, got ",
                 v.type_name(), " ", v.repr());
    }
  }
  initial_step();
}

Object CubicSL::sparsity_compute_fn(const Object& s_0, const Object& s_f, int64_t t, const Object& t_0,
                                    const Object& dt, const Object& n, const Object& initially_zero) {
  check_number(s_0, "CubicSL: s_0 (init_sl)");
  check_number(s_f, "CubicSL: s_f (the group's base sparsity level)");
  check_number(t_0, "CubicSL: t_0 (init_t)");
  check_number(dt, "CubicSL: dt (delta_t)");
  check_number(n, "CubicSL: n (total_t)");
  check_number(initially_zero, "CubicSL: initially_zero");
  // Python compares and subtracts an int with an int exactly, and with a float as a float.
  const bool t_before_t0 = is_py_int(t_0) ? t < t_0.to_int() : static_cast<double>(t) < t_0.to_double();
  if (py_truthy(initially_zero) && t_before_t0) return Object(0);
  const double elapsed =
      is_py_int(t_0) ? static_cast<double>(t - t_0.to_int()) : static_cast<double>(t) - t_0.to_double();
  const double span =
      is_py_int(dt) && is_py_int(n) ? static_cast<double>(dt.to_int() * n.to_int()) : dt.to_double() * n.to_double();
  // Python raises ZeroDivisionError here.
  TWIG_CHECK(span != 0.0, ValueError, "CubicSL: division by zero: delta_t * total_t is 0 (delta_t=", dt.repr(),
             ", total_t=", n.repr(), ")");
  const double s0 = s_0.to_double();
  const double sf = s_f.to_double();
  const double s0_minus_sf =
      is_py_int(s_0) && is_py_int(s_f) ? static_cast<double>(s_0.to_int() - s_f.to_int()) : s0 - sf;
  const double s_t = sf + s0_minus_sf * std::pow(1.0 - elapsed / span, 3.0);
  // Python's max(s_0, min(s_f, s_t)): min gives its first argument unless the second is
  // smaller, max its first unless the second is larger; so a clamped level is s_0 or s_f itself.
  const Object upper = s_t < sf ? Object(s_t) : s_f;
  return upper.to_double() > s0 ? upper : s_0;
}

std::vector<Object> CubicSL::get_sl() {
  warn_if_get_sl_outside_step();
  std::vector<Object> levels;
  const size_t n = zip_size(init_sl, base_sl, init_t, delta_t, total_t, initially_zero);
  for (size_t i = 0; i < n; ++i) {
    levels.push_back(
        sparsity_compute_fn(init_sl[i], base_sl[i], last_epoch, init_t[i], delta_t[i], total_t[i], initially_zero[i]));
  }
  return levels;
}

void CubicSL::own_state(Dict& sd) const {
  const std::vector<Object>* fields[] = {&init_sl, &init_t, &delta_t, &total_t, &initially_zero};
  for (size_t k = 0; k < 5; ++k) sd.set(kCubicKeys[k], tuple_of(*fields[k]));
}

bool CubicSL::check_own_state(const std::string& key, const Object& value) const {
  for (const char* own : kCubicKeys) {
    if (key == own) {
      check_tuple(key, value, is_number_item, "numbers");
      return true;
    }
  }
  return false;
}

void CubicSL::load_own_state(const std::string& key, const Object& value) {
  std::vector<Object>* fields[] = {&init_sl, &init_t, &delta_t, &total_t, &initially_zero};
  for (size_t k = 0; k < 5; ++k) {
    if (key == kCubicKeys[k]) *fields[k] = items_of(value);
  }
}

}  // namespace twig::ao
