#pragma once
// Systematic sampling after SMARTS (Wunderlich, Wenisch, Falsafi and Hoe, "SMARTS: Accelerating
// Microarchitecture Simulation via Rigorous Statistical Sampling", ISCA 2003): the run is cut
// into periods of `period` guest memory references; each period runs functionally (TLBs, walk
// caches and caches warmed, no timing), then `warmup` references in detail that are not
// measured, then a measured window of `window` references in detail. Every metric's windows are
// a systematic sample of it; the estimate is their mean with a confidence interval.
// Plain C++: the platform says how to switch the vCPUs' mode and which metrics to read.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "virtsim/common/param.h"
#include "virtsim/common/stats.h"

namespace virtsim {

struct SamplingPlan {
  std::uint64_t window = 0;  // measured references per window
  std::uint64_t warmup = 0;  // detailed, unmeasured references before each window
  std::uint64_t period = 0;  // references from one window's start to the next's
  double confidence = 0.95;  // of the intervals
};

// sampling.*: off unless sampling.enabled; sampling.fast_forward works with or without it.
struct SamplingParameters {
  explicit SamplingParameters(const Scope& scope);
  SamplingPlan plan() const;  // throws ConfigError naming the key when the parts do not fit
  Param<bool> enabled;
  Param<std::uint64_t> fast_forward;
  Param<std::uint64_t> window, warmup, period;
  Param<double> confidence;
};

// z such that a standard normal variable lies within +-z with probability `confidence`.
double normal_two_sided_quantile(double confidence);

// The estimate of a metric from its windows: a ratio estimator, the sum of the windows'
// numerators over the sum of their denominators (1 each for a metric read as one value), so a
// window that holds more references weighs more; the spread is that of the residuals
// x - R * y, scaled by the mean denominator (the ratio estimator's usual large-sample variance:
// W. G. Cochran, "Sampling Techniques", 3rd ed., Wiley 1977, chapter 6). With denominators of 1
// these are the mean and the sample standard deviation.
class SampleEstimate {
 public:
  void add(double numerator, double denominator = 1.0);
  std::uint64_t count() const { return n_; }
  double mean() const { return sum_y_ != 0.0 ? sum_x_ / sum_y_ : 0.0; }
  double standard_deviation() const;
  // z * s / sqrt(n): the estimate lies within mean +- this with the plan's confidence.
  double half_width(double z) const;
  // s / mean (0 for a zero mean): the spread of the windows, which sets how many are needed.
  double coefficient_of_variation() const;

 private:
  std::uint64_t n_ = 0;
  double sum_x_ = 0.0, sum_y_ = 0.0, sum_xx_ = 0.0, sum_xy_ = 0.0, sum_yy_ = 0.0;
};

// Where in its period the run is. The head is the run's first period, measured whole: a run's
// start (a process starting) is far costlier than the rest, and no window would cover it.
enum class SamplingPhase { Head, Functional, Warmup, Measured };

// Drives the phases from a count of references and measures each window: the change of every
// Counter of the registry over the window (modulo 2^64, as the counters count) stands in for the
// counter while the metrics are read,
// so any metric that is a formula of counters (the canonical ones) is read for the window alone.
class SamplingController {
 public:
  struct Metric {
    std::string name, unit;
    std::function<double()> read;  // of the current counters
    // Set for a metric per something (per reference): read() is then the numerator, this the
    // denominator, and the estimate a ratio of the windows' sums.
    std::function<double()> per = nullptr;
  };
  // `set_functional(true)` puts every vCPU in functional mode, false in detailed mode.
  SamplingController(const SamplingPlan& plan, StatRegistry& stats, std::vector<Metric> metrics,
                     std::function<void(bool)> set_functional);
  // The first phase starts: returns the references until the next boundary.
  std::uint64_t start();
  // The references of the current phase have run: the next phase starts; returns its length.
  std::uint64_t next_phase();
  // The run ended with `left` references of the current phase not run: a window under way counts
  // with the references it has (the ratio estimates weigh it by them).
  void finish(std::uint64_t left);
  // A per-reference metric's estimate for the whole run: the head exactly, the windows' ratio for
  // the references after it; other metrics: the windows' estimate alone.
  double run_estimate(std::size_t metric) const;
  double run_half_width(std::size_t metric) const;
  // The statistics were all reset (the region of interest began): a window under way restarts
  // there, shorter (the ratio estimates weigh it by its references).
  void statistics_reset();
  SamplingPhase phase() const { return phase_; }
  const std::vector<Metric>& metrics() const { return metrics_; }
  const SampleEstimate& estimate(std::size_t metric) const { return estimates_.at(metric); }
  double z() const { return z_; }
  const SamplingPlan& plan() const { return plan_; }

 private:
  void begin_window();
  // Each counter holds its change since begin_window() while `read` runs, then its total again.
  void read_window(const std::function<void()>& read);
  void end_window();
  std::uint64_t start_phase(SamplingPhase phase, std::uint64_t references);

  SamplingPlan plan_;
  StatRegistry& stats_;
  std::vector<Metric> metrics_;
  std::function<void(bool)> set_functional_;
  std::vector<Counter*> counters_;
  std::vector<std::uint64_t> at_window_start_;
  std::vector<SampleEstimate> estimates_;
  SamplingPhase phase_ = SamplingPhase::Head;
  std::uint64_t phase_references_ = 0;  // the current phase's length
  std::uint64_t references_ = 0;        // of the phases ended
  std::vector<double> head_numerator_, head_denominator_;
  double z_;
};

// The estimates as statistics, sampling.<metric>.{mean,half_width,cv} and sampling.windows,
// so the result file and `virtsim stats` carry them; set by publish() at the end of the run.
class SamplingResults {
 public:
  SamplingResults(const Scope& root, const SamplingController& controller);
  void publish();

 private:
  struct Row {
    std::unique_ptr<Scalar> mean, half_width, cv;
  };
  const SamplingController& controller_;
  std::vector<Row> rows_;
  Scalar windows_, confidence_;
};

}  // namespace virtsim
