#include "model/config.h"

#include <climits>
#include <cstdio>

#include "core/error.h"

namespace sr {

namespace {
void require(bool ok, const std::string& msg) {
  if (!ok) throw UserError(msg);
}
std::string kv(const char* key, int64_t v) { return std::string("model.") + key + " = " + std::to_string(v); }
}  // namespace

Recompute parse_recompute(const std::string& s) {
  if (s == "none") return Recompute::none;
  if (s == "attn") return Recompute::attn;
  if (s == "full") return Recompute::full;
  if (s == "except_attention") return Recompute::except_attention;
  throw UserError("model.recompute = " + s + ": expected none, attn, full or except_attention");
}

const char* recompute_name(Recompute r) {
  switch (r) {
    case Recompute::none: return "none";
    case Recompute::attn: return "attn";
    case Recompute::full: return "full";
    case Recompute::except_attention: return "except_attention";
  }
  return "?";
}

void ModelConfig::validate(int tp) const {
  require(hidden_size > 0, kv("hidden_size", hidden_size) + ": expected a positive integer");
  require(num_hidden_layers > 0, kv("num_hidden_layers", num_hidden_layers) + ": expected a positive integer");
  require(num_attention_heads > 0, kv("num_attention_heads", num_attention_heads) + ": expected a positive integer");
  require(num_key_value_heads > 0, kv("num_key_value_heads", num_key_value_heads) + ": expected a positive integer");
  require(intermediate_size > 0, kv("intermediate_size", intermediate_size) + ": expected a positive integer");
  require(vocab_size > 0, kv("vocab_size", vocab_size) + ": expected a positive integer");
  require(hidden_size % num_attention_heads == 0,
          kv("num_attention_heads", num_attention_heads) + " does not divide " + kv("hidden_size", hidden_size));
  require(num_attention_heads % num_key_value_heads == 0,
          kv("num_key_value_heads", num_key_value_heads) + " does not divide " +
              kv("num_attention_heads", num_attention_heads));
  require(head_dim() % 2 == 0 && head_dim() <= 256,
          "model head dim hidden_size / num_attention_heads = " + std::to_string(head_dim()) +
              ": expected an even number up to 256");
  require(sliding_window >= 0 && sliding_window <= INT_MAX,
          kv("sliding_window", sliding_window) + ": expected 0 (full attention) or a window size up to " +
              std::to_string(INT_MAX));
  require(rope_theta > 0, "model.rope_theta = " + std::to_string(rope_theta) + ": expected > 0");
  require(rms_norm_eps > 0, "model.rms_norm_eps = " + std::to_string(rms_norm_eps) + ": expected > 0");
  if (tp > 1) {
    const std::string t = "parallel.tp = " + std::to_string(tp);
    require(num_key_value_heads % tp == 0, t + " does not divide " + kv("num_key_value_heads", num_key_value_heads));
    require(intermediate_size % tp == 0, t + " does not divide " + kv("intermediate_size", intermediate_size));
    require(vocab_size % tp == 0, t + " does not divide " + kv("vocab_size", vocab_size));
  }
}

int64_t ModelConfig::num_parameters() const {
  const int64_t H = hidden_size, hd = head_dim();
  const int64_t q = num_attention_heads * hd, kvd = num_key_value_heads * hd;
  int64_t attn = H * q + 2 * H * kvd + q * H + (attention_bias ? q + 2 * kvd : 0);
  int64_t mlp = 3 * H * intermediate_size;
  int64_t per_layer = attn + mlp + 2 * H;
  int64_t emb = vocab_size * H * (tie_word_embeddings ? 1 : 2);
  return num_hidden_layers * per_layer + emb + H;
}

double ModelConfig::train_flops_per_token(int64_t seq_len) const {
  const double H = double(hidden_size), hd = double(head_dim());
  const double q = double(num_attention_heads) * hd, kvd = double(num_key_value_heads) * hd;
  const double matmul_params =
      double(num_hidden_layers) * (H * q + 2 * H * kvd + q * H + 3 * H * double(intermediate_size)) +
      double(vocab_size) * H;
  // Average number of keys a query sees in a causal sample of seq_len tokens with window W.
  const double n = double(seq_len), W = double(sliding_window);
  double keys;
  if (sliding_window == 0 || W >= n)
    keys = (n + 1) / 2;
  else
    keys = (W * (W + 1) / 2 + (n - W) * W) / n;
  // QKᵀ and PV: 2 matmuls × 2 FLOPs per multiply-add × 3 (forward + backward).
  const double attention = double(num_hidden_layers) * 2 * 2 * 3 * keys * q;
  return 6 * matmul_params + attention;
}

std::string ModelConfig::summary() const {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "layers %lld, hidden %lld, heads %lld/%lld (head dim %lld), mlp %lld, vocab %lld, "
                "window %s, %.2fM parameters",
                (long long)num_hidden_layers, (long long)hidden_size, (long long)num_attention_heads,
                (long long)num_key_value_heads, (long long)head_dim(), (long long)intermediate_size,
                (long long)vocab_size,
                sliding_window ? std::to_string(sliding_window).c_str() : "full",
                double(num_parameters()) / 1e6);
  return buf;
}

}  // namespace sr
