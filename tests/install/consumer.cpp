// Calls attnrt through the installed headers; exits non-zero on any error.
#include <attnrt/attnrt.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
  const int M = 5, N = 9, D = 16;
  std::vector<float> q(M * D, 0.1f), k(N * D, 0.2f), v(N * D, 0.5f), o(M * D, -1.0f);
  using attnrt::DType;
  using attnrt::Tensor;
  attnrt::attention_forward(Tensor::bhsd(q.data(), DType::f32, 1, 1, M, D),
                            Tensor::bhsd(k.data(), DType::f32, 1, 1, N, D),
                            Tensor::bhsd(v.data(), DType::f32, 1, 1, N, D),
                            Tensor::bhsd(o.data(), DType::f32, 1, 1, M, D));
  // Identical keys: every output is the mean of V, 0.5.
  for (float x : o)
    if (std::fabs(x - 0.5f) > 1e-6f) {
      std::printf("consumer: wrong result %g\n", x);
      return 1;
    }
  std::printf("consumer: ok (attnrt %s)\n", attnrt_version());
  return 0;
}
