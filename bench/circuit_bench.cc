// Crossbar IR-drop solver costs for R = C in {64, ..., 1024}: factorization, one solve against
// a reused factorization, the effective matrix M_eff (with the peak memory it took) and one
// M_eff MVM (a dense GEMV). ngspice on the same netlists: bench/ngspice_vs_aimc.sh.

#include <fstream>
#include <string>

#include <benchmark/benchmark.h>

#include "aimc/circuit/crossbar.h"
#include "aimc/circuit/dc_solver.h"
#include "aimc/circuit/effective_matrix.h"
#include "aimc/circuit/wires.h"
#include "aimc/common/rng.h"

namespace {

using aimc::circuit::Crossbar;
using aimc::circuit::CrossbarOptions;

// The conductance range, log-uniform, and the 22 nm layout's wire estimate.
Crossbar MakeArray(int n) {
  aimc::Rng rng(static_cast<std::uint64_t>(n));
  const double lo = std::log(1.0 / 15e6);
  const double hi = std::log(1.0 / 50e3);
  Eigen::MatrixXd g(n, n);
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < n; ++i) g(i, j) = std::exp(lo + (hi - lo) * rng.Uniform());
  CrossbarOptions o;
  o.UseWires(aimc::circuit::Layout22nm());
  return Crossbar(std::move(g), o);
}

Eigen::VectorXd Inputs(int n) {
  aimc::Rng rng(99);
  Eigen::VectorXd v(n);
  for (int i = 0; i < n; ++i) v(i) = rng.Uniform();
  return v;
}

// Peak resident memory (VmHWM) in MiB; ResetPeak() restarts it (Linux clear_refs = 5).
double PeakMiB() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "VmHWM:") {
      double kib = 0;
      status >> kib;
      return kib / 1024.0;
    }
    std::getline(status, key);
  }
  return 0.0;
}
void ResetPeak() { std::ofstream("/proc/self/clear_refs") << "5"; }

// Every run reports the same counters (the CSV reporter needs one header for all).
void SetCounters(benchmark::State& state, double factor_nnz, double factor_flops = 0,
                 double factorize_s = 0, double order_s = 0, double peak_mib = 0,
                 double start_mib = 0) {
  state.counters["factor_nnz"] = factor_nnz;
  state.counters["factor_flops"] = factor_flops;
  state.counters["factorize_s"] = factorize_s;
  state.counters["order_s"] = order_s;
  state.counters["peak_MiB"] = peak_mib;
  state.counters["start_MiB"] = start_mib;
}

void BM_Factorize(benchmark::State& state) {
  const Crossbar xbar = MakeArray(static_cast<int>(state.range(0)));
  std::int64_t factor_nnz = 0;
  for (auto _ : state) {
    aimc::circuit::DcSolver solver(xbar);
    factor_nnz = solver.summary().factor_nonzeros;
    benchmark::DoNotOptimize(factor_nnz);
  }
  SetCounters(state, static_cast<double>(factor_nnz));
}

void BM_Solve(benchmark::State& state) {
  const Crossbar xbar = MakeArray(static_cast<int>(state.range(0)));
  const aimc::circuit::DcSolver solver(xbar);
  const Eigen::VectorXd v = Inputs(xbar.rows());
  for (auto _ : state) benchmark::DoNotOptimize(solver.ColumnCurrents(v).data());
  SetCounters(state, static_cast<double>(solver.summary().factor_nonzeros));
}

void BM_EffectiveMatrix(benchmark::State& state) {
  const Crossbar xbar = MakeArray(static_cast<int>(state.range(0)));
  aimc::circuit::EffectiveMatrixInfo info;
  const double base = PeakMiB();
  ResetPeak();
  for (auto _ : state) {
    Eigen::MatrixXd m = aimc::circuit::EffectiveMatrix(xbar, &info);
    benchmark::DoNotOptimize(m.data());
  }
  SetCounters(state, static_cast<double>(info.factor_nonzeros), info.factor_flops,
              info.factorize_seconds, info.order_seconds, PeakMiB(), base);
}

void BM_EffectiveMatrixMvm(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Eigen::MatrixXd m = Eigen::MatrixXd::Random(n, n);
  const Eigen::VectorXd v = Inputs(n);
  Eigen::VectorXd out(n);
  for (auto _ : state) {
    out.noalias() = m.transpose() * v;
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * std::int64_t(n) * n * 8);
  SetCounters(state, 0.0);
}

BENCHMARK(BM_Factorize)->RangeMultiplier(2)->Range(64, 1024)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Solve)->RangeMultiplier(2)->Range(64, 1024)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EffectiveMatrix)
    ->RangeMultiplier(2)
    ->Range(64, 1024)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EffectiveMatrixMvm)->RangeMultiplier(2)->Range(64, 1024)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
