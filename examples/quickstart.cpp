// attnrt in C++: causal attention over one batch of 4 heads.
//   O = softmax(Q·Kᵀ / sqrt(D) + causal mask) · V
#include <attnrt/attnrt.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
  const int B = 1, H = 4, M = 128, N = 128, D = 64;  // batch, heads, queries, keys, head dim
  std::vector<float> q(B * H * M * D), k(B * H * N * D), v(B * H * N * D), o(B * H * M * D);
  for (std::size_t i = 0; i < q.size(); ++i) {
    q[i] = std::sin(0.1f * i);
    k[i] = std::cos(0.2f * i);
    v[i] = std::sin(0.3f * i + 1.0f);
  }

  // Dense [batch, heads, seq, head_dim] views; Tensor::bshd() views [batch, seq, heads, dim].
  using attnrt::DType, attnrt::Tensor;
  attnrt::Params params;
  params.causal = true;
  try {
    attnrt::attention_forward(Tensor::bhsd(q.data(), DType::f32, B, H, M, D),
                              Tensor::bhsd(k.data(), DType::f32, B, H, N, D),
                              Tensor::bhsd(v.data(), DType::f32, B, H, N, D),
                              Tensor::bhsd(o.data(), DType::f32, B, H, M, D), params);
  } catch (const attnrt::Error& e) {
    std::fprintf(stderr, "attnrt: %s\n", e.what());
    return 1;
  }
  // Causal: query 0 sees only key 0, so its output row is V's row 0.
  std::printf("o[0][0][0][0] = %f (v[0][0][0][0] = %f)\n", o[0], v[0]);
  return std::fabs(o[0] - v[0]) < 1e-5f ? 0 : 1;
}
