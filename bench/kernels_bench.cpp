// GEMV and small-batch GEMM throughput of the CPU kernels, next to the memory read bandwidth
// measured in the same run (the decode roofline).
//
//   build/kernels_bench [seconds_per_measurement] [TYPE,TYPE...]   (RAGENT_ISA caps the level)
//
// GEMV streams a rows x cols = 2048 x 8192 weight matrix; enough copies are cycled through that
// every call reads from DRAM, not from the (large) last-level cache. GEMM runs the same shape
// for batches of 8, 32 and 64 activation rows; "1B tok/s" converts its multiply-accumulate
// rate to Llama-3.2-1B tokens (973M weight MACs per token in the 16 layers; the output layer
// is needed only for the last prompt token).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/cpu/dot.hpp"
#include "kernels/cpu/membw.hpp"

using namespace ragent::kernels;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int64_t kRows = 2048;
constexpr int64_t kCols = 8192;
constexpr size_t kArenaBytes = size_t{1} << 30;  // > 2x the 260 MiB L3 this VM reports
constexpr double kLayerMacsPerToken = 973.0e6;

std::string command_line(const char* cmd) {
  std::string out;
  if (FILE* p = popen(cmd, "r")) {
    char buf[256];
    while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// Seconds per call of fn: calls are grouped into passes of about 10 ms and the fastest pass
// wins, so that time the scheduler gives to other processes on this shared 2-core machine is
// not charged to the kernel. Runs for about `seconds`.
template <class Fn>
double time_per_call(double seconds, Fn&& fn) {
  const auto t0 = Clock::now();
  fn();  // warm-up, and the size of a pass
  const double first = std::max(1e-6, std::chrono::duration<double>(Clock::now() - t0).count());
  const int64_t calls_per_pass = std::max<int64_t>(1, static_cast<int64_t>(0.01 / first));
  double best = 1e30;
  const auto start = Clock::now();
  do {
    const auto p0 = Clock::now();
    for (int64_t i = 0; i < calls_per_pass; ++i) fn();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - p0).count() / static_cast<double>(calls_per_pass));
  } while (std::chrono::duration<double>(Clock::now() - start).count() < seconds);
  return best;
}

bool listed(const char* list, std::string_view name) {
  std::string_view rest(list);
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    if (rest.substr(0, comma) == name) return true;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 0.6;
  const std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  std::printf("kernels_bench  %s\n", date);
  std::printf("cpu: %s\n", command_line("lscpu | sed -n 's/^Model name: *//p'").c_str());
  std::printf("isa: %s (detected %s, avx-vnni %s)   load average: %.2f %.2f %.2f\n", std::string(isa_name(default_isa())).c_str(),
              std::string(isa_name(detected_isa())).c_str(), has_avx_vnni() ? "yes" : "no", load[0], load[1], load[2]);
  std::printf("GEMV %lld x %lld, weights cycled through a %zu MiB arena\n\n", static_cast<long long>(kRows),
              static_cast<long long>(kCols), kArenaBytes >> 20);

  HugePageBuffer arena_buffer(kArenaBytes);  // as the mapped model's pages usually are
  uint8_t* const arena = arena_buffer.data();
  std::memset(arena, 1, kArenaBytes);
  ThreadPool pools[2] = {ThreadPool(1), ThreadPool(2)};
  double bw[2];
  for (int i = 0; i < 2; ++i) bw[i] = measure_read_bandwidth(pools[i], arena, kArenaBytes, seconds) / 1e9;
  std::printf("memory read bandwidth: %.1f GB/s (1 thread)  %.1f GB/s (2 threads)\n\n", bw[0], bw[1]);

  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 0.05f);
  std::vector<float> wf(static_cast<size_t>(kRows * kCols));
  for (float& v : wf) v = dist(rng);
  std::vector<float> x(static_cast<size_t>(128 * kCols));
  for (float& v : x) v = dist(rng) * 20.0f;
  std::vector<float> y(static_cast<size_t>(128 * kRows));

  std::printf("%-5s %6s | %8s | %12s %5s | %12s %5s | %12s | %12s %12s %12s %12s\n", "type", "MiB", "hot GB/s",
              "GEMV 1t GB/s", "roof", "GEMV 2t GB/s", "roof", "GEMM 1t B=64", "2t B=8", "2t B=32", "2t B=64",
              "2t B=128");
  std::printf("%-5s %6s | %8s | %12s %5s | %12s %5s | %64s\n", "", "", "1t, L2", "", "", "", "", "GEMM: GMAC/s (Llama-3.2-1B prompt tok/s)");
  const QuantType types[] = {QuantType::F32, QuantType::F16, QuantType::BF16, QuantType::Q8_0,
                             QuantType::Q4_0, QuantType::Q4_K, QuantType::Q5_K, QuantType::Q6_K};
  const char* only = argc > 2 ? argv[2] : nullptr;  // comma-separated type names
  for (QuantType t : types) {
    if (only != nullptr && !listed(only, quant_type_name(t))) continue;
    const size_t matrix_bytes = row_bytes(t, kCols) * kRows;
    for (int64_t r = 0; r < kRows; ++r) quantize_row(t, wf.data() + r * kCols, arena + row_bytes(t, kCols) * r, kCols);
    const size_t copies = kArenaBytes / matrix_bytes;
    for (size_t c = 1; c < copies; ++c) std::memcpy(arena + c * matrix_bytes, arena, matrix_bytes);
    std::vector<uint8_t> xq(activation_row_bytes(t, kCols));
    quantize_activations(t, x.data(), xq.data(), kCols);

    double gemv_gbs[2];
    for (int i = 0; i < 2; ++i) {
      size_t next = 0;
      const double sec = time_per_call(seconds, [&] {
        gemv(pools[i], t, arena + next * matrix_bytes, kRows, kCols, xq.data(), y.data());
        next = (next + 1) % copies;
      });
      gemv_gbs[i] = static_cast<double>(matrix_bytes) / sec / 1e9;
    }
    // The first 64 rows over and over: L2-resident, so this is the kernel's compute limit.
    const double hot_sec = time_per_call(seconds / 2, [&] {
      gemv(pools[0], t, arena, 64, kCols, xq.data(), y.data());
    });
    const double hot_gbs = static_cast<double>(row_bytes(t, kCols) * 64) / hot_sec / 1e9;
    double gemm_gmacs[5];
    const int64_t batches[5] = {64, 8, 32, 64, 128};
    for (int i = 0; i < 5; ++i) {
      size_t next = 0;
      const double sec = time_per_call(seconds, [&] {
        gemm(pools[i == 0 ? 0 : 1], t, arena + next * matrix_bytes, kRows, kCols, x.data(), batches[i], y.data());
        next = (next + 1) % copies;
      });
      gemm_gmacs[i] = static_cast<double>(kRows * kCols * batches[i]) / sec / 1e9;
    }
    std::printf("%-5s %6.1f | %8.1f | %12.1f %4.0f%% | %12.1f %4.0f%% |", std::string(quant_type_name(t)).c_str(),
                static_cast<double>(matrix_bytes) / (1 << 20), hot_gbs, gemv_gbs[0], 100 * gemv_gbs[0] / bw[0], gemv_gbs[1],
                100 * gemv_gbs[1] / bw[1]);
    for (int i = 0; i < 5; ++i) {
      std::printf(" %5.1f (%4.0f)%s", gemm_gmacs[i], gemm_gmacs[i] * 1e9 / kLayerMacsPerToken, i == 0 ? " |" : "");
    }
    std::printf("\n");
    std::fflush(stdout);
  }
  return 0;
}
