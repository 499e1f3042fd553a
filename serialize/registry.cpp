// The type registry and the codecs of nn's built-in layers (registered lazily by the singleton,
// so neither static-initialization order nor a linker dropping an unused object file matters).
#include "twig/serialize/registry.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "twig/autograd/ops/ops.h"
#include "twig/nn/activation.h"
#include "twig/nn/container.h"
#include "twig/nn/conv.h"
#include "twig/nn/dropout.h"
#include "twig/nn/embedding.h"
#include "twig/nn/init.h"
#include "twig/nn/linear.h"
#include "twig/nn/loss.h"
#include "twig/nn/normalization.h"
#include "twig/nn/parametrize.h"
#include "twig/nn/pooling.h"
#include "twig/nn/rnn.h"
#include "twig/serialize/module_io.h"

namespace twig::serialize {

namespace {

using namespace twig::nn;

// ---- reading options from an untrusted file --------------------------------------------------------

// Typed access to a codec's options with errors that name the option: every listed key must be
// present, and no other key may be.
class Opts {
 public:
  Opts(const json& j, const char* type, std::initializer_list<const char*> keys) : j_(j), type_(type) {
    TWIG_CHECK(j.is_object(), ValueError, type, " options must be an object, got ", j.type_name());
    std::set<std::string> allowed(keys.begin(), keys.end());
    for (const auto& [k, v] : j.items()) {
      TWIG_CHECK(allowed.count(k), ValueError, type, " options: unexpected option '", k, "'");
    }
    for (const char* k : keys) TWIG_CHECK(j.contains(k), ValueError, type, " options: missing option '", k, "'");
  }
  int64_t i(const char* key) const {
    const json& v = j_.at(key);
    TWIG_CHECK(v.is_number_integer(), ValueError, type_, " option '", key, "' must be an integer, got ", v.dump());
    TWIG_CHECK(v.is_number_unsigned() || v.get<int64_t>() > INT64_MIN, ValueError, type_, " option '", key,
               "' is out of range");
    TWIG_CHECK(!v.is_number_unsigned() || v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX), ValueError, type_,
               " option '", key, "' is out of range");
    return v.get<int64_t>();
  }
  // A size: an integer in [0, 2^31).
  int64_t size(const char* key) const {
    int64_t v = i(key);
    TWIG_CHECK(v >= 0 && v < (int64_t{1} << 31), ValueError, type_, " option '", key, "' = ", v,
               " is not a valid size");
    return v;
  }
  double d(const char* key) const {
    const json& v = j_.at(key);
    TWIG_CHECK(v.is_number(), ValueError, type_, " option '", key, "' must be a number, got ", v.dump());
    return v.get<double>();
  }
  bool b(const char* key) const {
    const json& v = j_.at(key);
    TWIG_CHECK(v.is_boolean(), ValueError, type_, " option '", key, "' must be true or false, got ", v.dump());
    return v.get<bool>();
  }
  std::string s(const char* key) const {
    const json& v = j_.at(key);
    TWIG_CHECK(v.is_string(), ValueError, type_, " option '", key, "' must be a string, got ", v.dump());
    return v.get<std::string>();
  }
  bool null(const char* key) const { return j_.at(key).is_null(); }
  std::vector<int64_t> sizes(const char* key) const {
    const json& v = j_.at(key);
    TWIG_CHECK(v.is_array() && !v.empty() && v.size() <= 8, ValueError, type_, " option '", key,
               "' must be a list of 1 to 8 sizes, got ", v.dump());
    std::vector<int64_t> out;
    for (const auto& e : v) {
      TWIG_CHECK(e.is_number_integer() && e.is_number_unsigned() && e.get<uint64_t>() < (uint64_t{1} << 31), ValueError,
                 type_, " option '", key, "' must hold sizes in [0, 2^31), got ", v.dump());
      out.push_back(e.get<int64_t>());
    }
    return out;
  }

 private:
  const json& j_;
  const char* type_;
};

// Elements a layer's fresh parameters take: refused when more than the file being loaded holds,
// so a tampered option cannot make the loader allocate gigabytes the file never had.
void check_elements(const char* type, std::initializer_list<int64_t> counts) {
  const int64_t budget = detail::fresh_element_budget();
  if (budget < 0) return;
  uint64_t total = 0;
  for (int64_t c : counts) {
    TWIG_CHECK(c >= 0 && !__builtin_add_overflow(total, static_cast<uint64_t>(c), &total) &&
                   total <= static_cast<uint64_t>(budget),
               ValueError, type, " options describe ", c, "+ elements of parameters but the whole file holds ", budget,
               " bytes of tensors: the options do not match the file");
  }
}

int64_t product(const std::vector<int64_t>& v) {
  uint64_t p = 1;
  for (int64_t x : v) {
    if (__builtin_mul_overflow(p, static_cast<uint64_t>(x), &p) || p > (uint64_t{1} << 62)) return INT64_MAX;
  }
  return static_cast<int64_t>(p);
}

int64_t mul(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_mul_overflow(a, b, &r) ? INT64_MAX : r;
}

json spatial(const SpatialInts& s) { return s.values; }

// ---- codecs of the built-in layers ------------------------------------------------------------------

template <typename M>
ModuleCodec stateless(const char* type) {
  return ModuleCodec{[](const Module&) { return json::object(); },
                     [type](const json& j) -> ModulePtr {
                       Opts o(j, type, {});
                       return std::make_shared<M>();
                     }};
}

template <typename M>
const M& as(const Module& m) {
  const M* p = dynamic_cast<const M*>(&m);
  TWIG_CHECK(p != nullptr, TypeError, "the codec for '", m.type_name(), "' got a module of another C++ class");
  return *p;
}

template <size_t D>
ModuleCodec conv_codec(const char* type) {
  return ModuleCodec{[](const Module& m) {
                       const auto& o = as<ConvNd<D>>(m).options;
                       // padding is PyTorch's argument: "same" / "valid" when it was given as text, else the ints.
                       json padding = o.padding_str_.empty() ? json(o.padding_) : json(o.padding_str_);
                       return json{{"in_channels", o.in_channels_},
                                   {"out_channels", o.out_channels_},
                                   {"kernel_size", o.kernel_size_},
                                   {"stride", o.stride_},
                                   {"padding", padding},
                                   {"padding_mode", o.padding_mode_},
                                   {"dilation", o.dilation_},
                                   {"groups", o.groups_},
                                   {"bias", o.bias_}};
                     },
                     [type](const json& j) -> ModulePtr {
                       // Files written before padding_mode existed have no such key (and numeric padding).
                       const bool has_mode = j.is_object() && j.contains("padding_mode");
                       Opts o = has_mode ? Opts(j, type,
                                                {"in_channels", "out_channels", "kernel_size", "stride", "padding",
                                                 "padding_mode", "dilation", "groups", "bias"})
                                         : Opts(j, type,
                                                {"in_channels", "out_channels", "kernel_size", "stride", "padding",
                                                 "dilation", "groups", "bias"});
                       const bool padding_text = j.at("padding").is_string();
                       for (const char* k : {"kernel_size", "stride", "padding", "dilation"}) {
                         if (padding_text && std::string(k) == "padding") continue;
                         TWIG_CHECK(o.sizes(k).size() == D, ValueError, type, " option '", k, "' must have ", D,
                                    " values");
                       }
                       const int64_t groups = o.size("groups");
                       TWIG_CHECK(groups >= 1, ValueError, type, " option 'groups' must be positive");
                       const int64_t in = o.size("in_channels"), out = o.size("out_channels");
                       check_elements(type, {mul(mul(out, in / groups), product(o.sizes("kernel_size"))), out});
                       ConvOptions<D> opts(in, out, o.sizes("kernel_size"));
                       opts.stride(o.sizes("stride")).dilation(o.sizes("dilation"));
                       if (padding_text)
                         opts.padding(o.s("padding"));
                       else
                         opts.padding(o.sizes("padding"));
                       if (has_mode) opts.padding_mode(o.s("padding_mode"));
                       opts.groups(groups).bias(o.b("bias"));
                       return std::make_shared<ConvNd<D>>(opts);
                     }};
}

template <typename Pool>
ModuleCodec adaptive_pool_codec(const char* type) {
  return ModuleCodec{[](const Module& m) {
                       return json{{"output_size", spatial(as<Pool>(m).output_size)}};
                     },
                     [type](const json& j) -> ModulePtr {
                       Opts o(j, type, {"output_size"});
                       return std::make_shared<Pool>(SpatialInts(o.sizes("output_size")));
                     }};
}

template <typename M>
ModuleCodec one_double(const char* type, const char* key, double M::*field) {
  return ModuleCodec{[key, field](const Module& m) {
                       return json{{key, as<M>(m).*field}};
                     },
                     [type, key](const json& j) -> ModulePtr {
                       Opts o(j, type, {key});
                       return std::make_shared<M>(o.d(key));
                     }};
}

template <typename M>
ModuleCodec softmax_codec(const char* type) {
  return ModuleCodec{[](const Module& m) {
                       return json{{"dim", as<M>(m).dim}};
                     },
                     [type](const json& j) -> ModulePtr {
                       Opts o(j, type, {"dim"});
                       return std::make_shared<M>(o.i("dim"));
                     }};
}

std::optional<int64_t> opt_int(const Opts& o, const char* key) {
  if (o.null(key)) return std::nullopt;
  return o.i(key);
}

void register_builtins(std::map<std::string, ModuleCodec>& modules) {
  modules["Linear"] = {
      [](const Module& m) {
        const auto& o = as<Linear>(m).options;
        return json{{"in_features", o.in_features_}, {"out_features", o.out_features_}, {"bias", o.bias_}};
      },
      [](const json& j) -> ModulePtr {
        Opts o(j, "Linear", {"in_features", "out_features", "bias"});
        const int64_t in = o.size("in_features"), out = o.size("out_features");
        check_elements("Linear", {mul(in, out), out});
        return std::make_shared<Linear>(LinearOptions(in, out).bias(o.b("bias")));
      }};
  modules["Identity"] = stateless<Identity>("Identity");
  modules["Flatten"] = {[](const Module& m) {
                          const auto& f = as<Flatten>(m);
                          return json{{"start_dim", f.start_dim}, {"end_dim", f.end_dim}};
                        },
                        [](const json& j) -> ModulePtr {
                          Opts o(j, "Flatten", {"start_dim", "end_dim"});
                          return std::make_shared<Flatten>(o.i("start_dim"), o.i("end_dim"));
                        }};
  modules["Conv2d"] = conv_codec<2>("Conv2d");
  modules["Conv3d"] = conv_codec<3>("Conv3d");
  modules["MaxPool2d"] = {[](const Module& m) {
                            const auto& o = as<MaxPool2d>(m).options;
                            return json{{"kernel_size", spatial(o.kernel_size_)},
                                        {"stride", o.stride_ ? spatial(*o.stride_) : json()},
                                        {"padding", spatial(o.padding_)},
                                        {"dilation", spatial(o.dilation_)},
                                        {"ceil_mode", o.ceil_mode_}};
                          },
                          [](const json& j) -> ModulePtr {
                            Opts o(j, "MaxPool2d", {"kernel_size", "stride", "padding", "dilation", "ceil_mode"});
                            MaxPool2dOptions opts(o.sizes("kernel_size"));
                            if (!o.null("stride")) opts.stride(o.sizes("stride"));
                            opts.padding(o.sizes("padding")).dilation(o.sizes("dilation")).ceil_mode(o.b("ceil_mode"));
                            return std::make_shared<MaxPool2d>(opts);
                          }};
  modules["AvgPool2d"] = {
      [](const Module& m) {
        const auto& o = as<AvgPool2d>(m).options;
        return json{{"kernel_size", spatial(o.kernel_size_)},
                    {"stride", o.stride_ ? spatial(*o.stride_) : json()},
                    {"padding", spatial(o.padding_)},
                    {"ceil_mode", o.ceil_mode_},
                    {"count_include_pad", o.count_include_pad_},
                    {"divisor_override", o.divisor_override_ ? json(*o.divisor_override_) : json()}};
      },
      [](const json& j) -> ModulePtr {
        Opts o(j, "AvgPool2d",
               {"kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"});
        AvgPool2dOptions opts(o.sizes("kernel_size"));
        if (!o.null("stride")) opts.stride(o.sizes("stride"));
        opts.padding(o.sizes("padding")).ceil_mode(o.b("ceil_mode"));
        opts.count_include_pad(o.b("count_include_pad"));
        opts.divisor_override(opt_int(o, "divisor_override"));
        return std::make_shared<AvgPool2d>(opts);
      }};
  modules["AdaptiveAvgPool2d"] = adaptive_pool_codec<AdaptiveAvgPool2d>("AdaptiveAvgPool2d");
  modules["AdaptiveMaxPool2d"] = adaptive_pool_codec<AdaptiveMaxPool2d>("AdaptiveMaxPool2d");
  modules["Dropout"] = one_double<Dropout>("Dropout", "p", &Dropout::p);
  modules["LayerNorm"] = {[](const Module& m) {
                            const auto& l = as<LayerNorm>(m);
                            return json{{"normalized_shape", l.normalized_shape},
                                        {"eps", l.eps},
                                        {"elementwise_affine", l.elementwise_affine}};
                          },
                          [](const json& j) -> ModulePtr {
                            Opts o(j, "LayerNorm", {"normalized_shape", "eps", "elementwise_affine"});
                            auto shape = o.sizes("normalized_shape");
                            check_elements("LayerNorm", {product(shape), product(shape)});
                            return std::make_shared<LayerNorm>(shape, o.d("eps"), o.b("elementwise_affine"));
                          }};
  modules["BatchNorm2d"] = {
      [](const Module& m) {
        const auto& b = as<BatchNorm2d>(m);
        return json{{"num_features", b.num_features},
                    {"eps", b.eps},
                    {"momentum", b.momentum ? json(*b.momentum) : json()},
                    {"affine", b.affine},
                    {"track_running_stats", b.track_running_stats}};
      },
      [](const json& j) -> ModulePtr {
        Opts o(j, "BatchNorm2d", {"num_features", "eps", "momentum", "affine", "track_running_stats"});
        const int64_t c = o.size("num_features");
        check_elements("BatchNorm2d", {mul(c, 4)});
        std::optional<double> momentum;
        if (!o.null("momentum")) momentum = o.d("momentum");
        return std::make_shared<BatchNorm2d>(c, o.d("eps"), momentum, o.b("affine"), o.b("track_running_stats"));
      }};
  modules["Embedding"] = {[](const Module& m) {
                            const auto& e = as<Embedding>(m);
                            return json{{"num_embeddings", e.num_embeddings},
                                        {"embedding_dim", e.embedding_dim},
                                        {"padding_idx", e.padding_idx ? json(*e.padding_idx) : json()}};
                          },
                          [](const json& j) -> ModulePtr {
                            Opts o(j, "Embedding", {"num_embeddings", "embedding_dim", "padding_idx"});
                            const int64_t n = o.size("num_embeddings"), d = o.size("embedding_dim");
                            check_elements("Embedding", {mul(n, d)});
                            return std::make_shared<Embedding>(n, d, opt_int(o, "padding_idx"));
                          }};
  // Activations.
  modules["ReLU"] = stateless<ReLU>("ReLU");
  modules["ReLU6"] = stateless<ReLU6>("ReLU6");
  modules["Sigmoid"] = stateless<Sigmoid>("Sigmoid");
  modules["Hardsigmoid"] = stateless<Hardsigmoid>("Hardsigmoid");
  modules["Tanh"] = stateless<Tanh>("Tanh");
  modules["SiLU"] = stateless<SiLU>("SiLU");
  modules["Mish"] = stateless<Mish>("Mish");
  modules["Hardswish"] = stateless<Hardswish>("Hardswish");
  modules["SELU"] = stateless<SELU>("SELU");
  modules["LogSigmoid"] = stateless<LogSigmoid>("LogSigmoid");
  modules["Softsign"] = stateless<Softsign>("Softsign");
  modules["Tanhshrink"] = stateless<Tanhshrink>("Tanhshrink");
  modules["ELU"] = one_double<ELU>("ELU", "alpha", &ELU::alpha);
  modules["CELU"] = one_double<CELU>("CELU", "alpha", &CELU::alpha);
  modules["Hardshrink"] = one_double<Hardshrink>("Hardshrink", "lambd", &Hardshrink::lambd);
  modules["LeakyReLU"] = one_double<LeakyReLU>("LeakyReLU", "negative_slope", &LeakyReLU::negative_slope);
  modules["RReLU"] = {[](const Module& m) {
                        return json{{"lower", as<RReLU>(m).lower}, {"upper", as<RReLU>(m).upper}};
                      },
                      [](const json& j) -> ModulePtr {
                        Opts o(j, "RReLU", {"lower", "upper"});
                        return std::make_shared<RReLU>(o.d("lower"), o.d("upper"));
                      }};
  modules["Hardtanh"] = {[](const Module& m) {
                           return json{{"min_val", as<Hardtanh>(m).min_val}, {"max_val", as<Hardtanh>(m).max_val}};
                         },
                         [](const json& j) -> ModulePtr {
                           Opts o(j, "Hardtanh", {"min_val", "max_val"});
                           return std::make_shared<Hardtanh>(o.d("min_val"), o.d("max_val"));
                         }};
  modules["Softplus"] = {[](const Module& m) {
                           return json{{"beta", as<Softplus>(m).beta}, {"threshold", as<Softplus>(m).threshold}};
                         },
                         [](const json& j) -> ModulePtr {
                           Opts o(j, "Softplus", {"beta", "threshold"});
                           return std::make_shared<Softplus>(o.d("beta"), o.d("threshold"));
                         }};
  modules["PReLU"] = {[](const Module& m) {
                        return json{{"num_parameters", as<PReLU>(m).num_parameters}};
                      },
                      [](const json& j) -> ModulePtr {
                        Opts o(j, "PReLU", {"num_parameters"});
                        const int64_t n = o.size("num_parameters");
                        check_elements("PReLU", {n});
                        return std::make_shared<PReLU>(n);
                      }};
  modules["GELU"] = {[](const Module& m) {
                       return json{{"approximate", as<GELU>(m).approximate}};
                     },
                     [](const json& j) -> ModulePtr {
                       Opts o(j, "GELU", {"approximate"});
                       return std::make_shared<GELU>(o.s("approximate"));
                     }};
  modules["Softmax"] = softmax_codec<Softmax>("Softmax");
  modules["LogSoftmax"] = softmax_codec<LogSoftmax>("LogSoftmax");
  // Containers: their children are restored generically. A bare Module is Python's nn.Module().
  modules["Module"] = stateless<Module>("Module");
  modules["Sequential"] = stateless<Sequential>("Sequential");
  modules["ModuleList"] = stateless<ModuleList>("ModuleList");
  modules["ModuleDict"] = stateless<ModuleDict>("ModuleDict");
  modules["LSTM"] = {[](const Module& m) {
                       const auto& o = as<LSTM>(m).options;
                       return json{{"input_size", o.input_size_},       {"hidden_size", o.hidden_size_},
                                   {"num_layers", o.num_layers_},       {"bias", o.bias_},
                                   {"batch_first", o.batch_first_},     {"dropout", o.dropout_},
                                   {"bidirectional", o.bidirectional_}, {"proj_size", o.proj_size_}};
                     },
                     [](const json& j) -> ModulePtr {
                       Opts o(j, "LSTM",
                              {"input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
                               "bidirectional", "proj_size"});
                       const int64_t in = o.size("input_size"), h = o.size("hidden_size"), n = o.size("num_layers");
                       const int64_t per_layer = mul(mul(4, h), in + h + 2);
                       check_elements("LSTM", {mul(per_layer, std::max<int64_t>(n, 1))});
                       LSTMOptions opts(in, h);
                       opts.num_layers(n).bias(o.b("bias")).batch_first(o.b("batch_first")).dropout(o.d("dropout"));
                       opts.bidirectional(o.b("bidirectional")).proj_size(o.i("proj_size"));
                       return std::make_shared<LSTM>(opts);
                     }};
  // `original` and the chain "0", "1", ... are restored generically; the placeholder original the
  // constructor needs is dropped at once.
  modules["ParametrizationList"] = {
      [](const Module& m) {
        return json{{"original_is_buffer", as<ParametrizationList>(m).original_is_buffer()}};
      },
      [](const json& j) -> ModulePtr {
        Opts o(j, "ParametrizationList", {"original_is_buffer"});
        const bool is_buffer = o.b("original_is_buffer");
        auto list = std::make_shared<ParametrizationList>(zeros({0}), is_buffer);
        list->delete_name("original");
        return list;
      }};
  // Losses (a class weight is a buffer, restored generically).
  modules["MSELoss"] = {[](const Module& m) {
                          return json{{"reduction", as<MSELoss>(m).reduction}};
                        },
                        [](const json& j) -> ModulePtr {
                          Opts o(j, "MSELoss", {"reduction"});
                          return std::make_shared<MSELoss>(o.s("reduction"));
                        }};
  modules["NLLLoss"] = {[](const Module& m) {
                          const auto& l = as<NLLLoss>(m);
                          return json{{"reduction", l.reduction}, {"ignore_index", l.ignore_index}};
                        },
                        [](const json& j) -> ModulePtr {
                          Opts o(j, "NLLLoss", {"reduction", "ignore_index"});
                          return std::make_shared<NLLLoss>(
                              NLLLossOptions().reduction(o.s("reduction")).ignore_index(o.i("ignore_index")));
                        }};
  modules["CrossEntropyLoss"] = {
      [](const Module& m) {
        const auto& l = as<CrossEntropyLoss>(m);
        return json{
            {"reduction", l.reduction}, {"ignore_index", l.ignore_index}, {"label_smoothing", l.label_smoothing}};
      },
      [](const json& j) -> ModulePtr {
        Opts o(j, "CrossEntropyLoss", {"reduction", "ignore_index", "label_smoothing"});
        return std::make_shared<CrossEntropyLoss>(CrossEntropyLossOptions()
                                                      .reduction(o.s("reduction"))
                                                      .ignore_index(o.i("ignore_index"))
                                                      .label_smoothing(o.d("label_smoothing")));
      }};
}

// ---- the registry ---------------------------------------------------------------------------------

class Registry {
 public:
  static Registry& instance() {
    static Registry r;
    return r;
  }
  std::mutex mu;
  std::map<std::string, ModuleCodec> modules;
  std::map<std::string, ForwardPreHookCodec> pre_hooks;
  std::map<std::string, ForwardHookCodec> hooks;
  std::set<std::string> builtin;  // types whose codec is still nn's own

 private:
  Registry() {
    register_builtins(modules);
    for (const auto& [name, codec] : modules) builtin.insert(name);
  }
};

template <typename Codec>
void put(std::map<std::string, Codec>& table, const std::string& name, Codec codec, const char* what) {
  TWIG_CHECK(!name.empty(), ValueError, "register_", what, "_type: empty type name");
  TWIG_CHECK(codec.save && codec.load, ValueError, "register_", what, "_type('", name,
             "'): save and load must both be set");
  auto& r = Registry::instance();
  std::lock_guard<std::mutex> lock(r.mu);
  table[name] = std::move(codec);
}

}  // namespace

void register_module_type(const std::string& type_name, ModuleCodec codec) {
  TWIG_CHECK(!type_name.empty(), ValueError, "register_module_type: empty type name");
  TWIG_CHECK(codec.save_options && codec.make, ValueError, "register_module_type('", type_name,
             "'): save_options and make must both be set");
  auto& r = Registry::instance();
  std::lock_guard<std::mutex> lock(r.mu);
  r.modules[type_name] = std::move(codec);
  r.builtin.erase(type_name);
}

void register_forward_pre_hook_type(const std::string& type_name, ForwardPreHookCodec codec) {
  put(Registry::instance().pre_hooks, type_name, std::move(codec), "forward_pre_hook");
}

void register_forward_hook_type(const std::string& type_name, ForwardHookCodec codec) {
  put(Registry::instance().hooks, type_name, std::move(codec), "forward_hook");
}

bool has_module_type(const std::string& type_name) {
  auto& r = Registry::instance();
  std::lock_guard<std::mutex> lock(r.mu);
  return r.modules.count(type_name) != 0;
}

bool has_forward_pre_hook_type(const std::string& type_name) {
  auto& r = Registry::instance();
  std::lock_guard<std::mutex> lock(r.mu);
  return r.pre_hooks.count(type_name) != 0;
}

bool has_forward_hook_type(const std::string& type_name) {
  auto& r = Registry::instance();
  std::lock_guard<std::mutex> lock(r.mu);
  return r.hooks.count(type_name) != 0;
}

std::vector<std::string> registered_module_types() {
  auto& r = Registry::instance();
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<std::string> out;
  for (const auto& [name, codec] : r.modules) out.push_back(name);
  return out;
}

namespace detail {

std::string register_default_module(const std::string& type_name, const std::type_info& type,
                                    std::function<nn::ModulePtr()> make) {
  TWIG_CHECK(make != nullptr, ValueError, "register_module: no factory");
  std::string name = type_name;
  if (name.empty()) {
    nn::ModulePtr probe;
    {
      init::SkipRandomInitGuard no_random_init;
      probe = make();
    }
    TWIG_CHECK(probe != nullptr, ValueError, "register_module<", demangle(type.name()),
               ">: the factory made no module");
    name = probe->type_name();
  }
  TWIG_CHECK(!name.empty(), ValueError, "register_module<", demangle(type.name()), ">: empty type name");
  // The options are always {}: a fresh instance is make().
  register_module_type(name, ModuleCodec{[](const nn::Module&) { return json::object(); },
                                         [name, make](const json& j) -> nn::ModulePtr {
                                           TWIG_CHECK(j.is_object() && j.empty(), ValueError, name,
                                                      " takes no options, got ", j.dump());
                                           return make();
                                         }});
  nn::register_module_factory(name, type, make);
  return name;
}

std::optional<ModuleCodec> find_module_codec(const std::string& type_name) {
  auto& r = Registry::instance();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.modules.find(type_name);
  if (it == r.modules.end()) return std::nullopt;
  return it->second;
}

bool is_builtin_module_type(const std::string& type_name) {
  auto& r = Registry::instance();
  std::lock_guard<std::mutex> lock(r.mu);
  return r.builtin.count(type_name) != 0;
}

std::optional<ForwardPreHookCodec> find_forward_pre_hook_codec(const std::string& type_name) {
  auto& r = Registry::instance();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.pre_hooks.find(type_name);
  if (it == r.pre_hooks.end()) return std::nullopt;
  return it->second;
}

std::optional<ForwardHookCodec> find_forward_hook_codec(const std::string& type_name) {
  auto& r = Registry::instance();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.hooks.find(type_name);
  if (it == r.hooks.end()) return std::nullopt;
  return it->second;
}

}  // namespace detail

}  // namespace twig::serialize
