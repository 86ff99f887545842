#include "virtsim/sampling/sampling.h"

#include <algorithm>
#include <cmath>

#include "virtsim/common/error.h"

namespace virtsim {

SamplingParameters::SamplingParameters(const Scope& scope)
    : VIRTSIM_MEMBER(enabled, scope, false, "",
                     "sample the run (SMARTS, docs/sampling.md): detailed windows at a fixed period, functional "
                     "warming between them; every canonical metric is reported with a confidence interval"),
      VIRTSIM_MEMBER(fast_forward, scope, 0, "references",
                     "guest memory references run functionally at the start (no timing; TLBs, walk caches and "
                     "caches warmed), after which every statistic restarts from zero and the rest of the run is "
                     "detailed, or sampled with sampling.enabled",
                     Range{0, 1e15}),
      VIRTSIM_MEMBER(window, scope, 1000, "references",
                     "guest memory references measured in each detailed window. Default: the 1000-instruction "
                     "unit of Wunderlich et al. (ISCA 2003), in references here (an assumption)",
                     Range{1, 1e15}),
      VIRTSIM_MEMBER(warmup, scope, 2000, "references",
                     "detailed references run before each window and not measured, so the core's in-flight state is "
                     "warm. Default: the 2000-instruction detailed warming of Wunderlich et al. (ISCA 2003), in "
                     "references here (an assumption)",
                     Range{0, 1e15}),
      VIRTSIM_MEMBER(period, scope, 100000, "references",
                     "references from the start of one window to the start of the next; the references outside "
                     "warmup and window run functionally (an assumption: 1 % of the run measured)",
                     Range{1, 1e15}),
      VIRTSIM_MEMBER(confidence, scope, 0.95, "probability",
                     "confidence level of the reported intervals (mean +- z * s / sqrt(windows))",
                     Range{0.5, 0.9999}) {}

SamplingPlan SamplingParameters::plan() const {
  if (window.get() + warmup.get() > period.get())
    throw ConfigError(period.name() + " = " + std::to_string(period.get()) + " is shorter than " + warmup.name() +
                      " + " + window.name() + " = " + std::to_string(warmup.get() + window.get()) +
                      " references; expected a period at least that long");
  return {window, warmup, period, confidence};
}

double normal_two_sided_quantile(double confidence) {
  // P(|Z| <= z) = erf(z / sqrt 2) rises with z: bisect until the bracket is below double precision.
  double low = 0.0, high = 40.0;
  for (int i = 0; i < 200 && high - low > 1e-15; ++i) {
    const double mid = 0.5 * (low + high);
    (std::erf(mid / std::sqrt(2.0)) < confidence ? low : high) = mid;
  }
  return 0.5 * (low + high);
}

void SampleEstimate::add(double numerator, double denominator) {
  ++n_;
  sum_x_ += numerator;
  sum_y_ += denominator;
  sum_xx_ += numerator * numerator;
  sum_xy_ += numerator * denominator;
  sum_yy_ += denominator * denominator;
}

double SampleEstimate::standard_deviation() const {
  if (n_ < 2 || sum_y_ == 0.0) return 0.0;
  const double r = mean();
  // Sum of (x - r y)^2, expanded; rounding can take a zero spread a hair below 0.
  const double residuals = std::max(0.0, sum_xx_ - 2.0 * r * sum_xy_ + r * r * sum_yy_);
  const double mean_denominator = sum_y_ / static_cast<double>(n_);
  return std::sqrt(residuals / static_cast<double>(n_ - 1)) / mean_denominator;
}

double SampleEstimate::half_width(double z) const {
  return n_ > 0 ? z * standard_deviation() / std::sqrt(static_cast<double>(n_)) : 0.0;
}

double SampleEstimate::coefficient_of_variation() const {
  return mean() != 0.0 ? standard_deviation() / std::fabs(mean()) : 0.0;
}

SamplingController::SamplingController(const SamplingPlan& plan, StatRegistry& stats, std::vector<Metric> metrics,
                                       std::function<void(bool)> set_functional)
    : plan_(plan),
      stats_(stats),
      metrics_(std::move(metrics)),
      set_functional_(std::move(set_functional)),
      estimates_(metrics_.size()),
      z_(normal_two_sided_quantile(plan.confidence)) {}

std::uint64_t SamplingController::start() {
  for (StatBase* s : stats_.all())
    if (s->kind() == StatKind::Counter) counters_.push_back(static_cast<Counter*>(s));
  at_window_start_.resize(counters_.size());
  head_numerator_.assign(metrics_.size(), 0.0);
  head_denominator_.assign(metrics_.size(), 0.0);
  set_functional_(false);
  begin_window();
  return start_phase(SamplingPhase::Head, plan_.period);
}

std::uint64_t SamplingController::start_phase(SamplingPhase phase, std::uint64_t references) {
  phase_ = phase;
  phase_references_ = references;
  return references;
}

std::uint64_t SamplingController::next_phase() {
  references_ += phase_references_;
  switch (phase_) {
    case SamplingPhase::Head:
      read_window([this] {
        for (std::size_t m = 0; m < metrics_.size(); ++m) {
          head_numerator_[m] = metrics_[m].read();
          head_denominator_[m] = metrics_[m].per ? metrics_[m].per() : 0.0;
        }
      });
      break;
    case SamplingPhase::Functional:
      set_functional_(false);
      if (plan_.warmup > 0) return start_phase(SamplingPhase::Warmup, plan_.warmup);
      begin_window();
      return start_phase(SamplingPhase::Measured, plan_.window);
    case SamplingPhase::Warmup:
      begin_window();
      return start_phase(SamplingPhase::Measured, plan_.window);
    case SamplingPhase::Measured:
      end_window();
      break;
  }
  // After the head or a window: the functional part of the next period, if it has one.
  if (const std::uint64_t functional = plan_.period - plan_.warmup - plan_.window) {
    set_functional_(true);
    return start_phase(SamplingPhase::Functional, functional);
  }
  phase_references_ = 0;
  phase_ = SamplingPhase::Functional;
  return next_phase();
}

void SamplingController::finish(std::uint64_t left) {
  references_ += phase_references_ - std::min(left, phase_references_);
  phase_references_ = 0;
  if (phase_ == SamplingPhase::Measured) end_window();
  if (phase_ == SamplingPhase::Head) {  // the whole run was the head: measured exactly
    read_window([this] {
      for (std::size_t m = 0; m < metrics_.size(); ++m) {
        head_numerator_[m] = metrics_[m].read();
        head_denominator_[m] = metrics_[m].per ? metrics_[m].per() : 0.0;
      }
    });
  }
  phase_ = SamplingPhase::Functional;
}

double SamplingController::run_estimate(std::size_t m) const {
  const SampleEstimate& e = estimates_.at(m);
  if (!metrics_[m].per) return e.mean();
  const double total = static_cast<double>(references_);
  const double rest = std::max(0.0, total - head_denominator_[m]);
  if (total <= 0.0) return 0.0;
  if (e.count() == 0) return head_denominator_[m] > 0 ? head_numerator_[m] / head_denominator_[m] : 0.0;
  return (head_numerator_[m] + e.mean() * rest) / total;
}

double SamplingController::run_half_width(std::size_t m) const {
  const SampleEstimate& e = estimates_.at(m);
  if (!metrics_[m].per) return e.half_width(z_);
  const double total = static_cast<double>(references_);
  if (total <= 0.0 || e.count() == 0) return 0.0;
  return e.half_width(z_) * std::max(0.0, total - head_denominator_[m]) / total;
}

void SamplingController::statistics_reset() {
  if (phase_ == SamplingPhase::Measured || phase_ == SamplingPhase::Head) begin_window();
}

void SamplingController::begin_window() {
  for (std::size_t i = 0; i < counters_.size(); ++i) at_window_start_[i] = counters_[i]->count();
}

void SamplingController::read_window(const std::function<void()>& read) {
  std::vector<std::uint64_t> totals(counters_.size());
  for (std::size_t i = 0; i < counters_.size(); ++i) {
    totals[i] = counters_[i]->count();
    counters_[i]->reset();
    *counters_[i] += totals[i] - at_window_start_[i];
  }
  read();
  for (std::size_t i = 0; i < counters_.size(); ++i) {
    counters_[i]->reset();
    *counters_[i] += totals[i];
  }
}

void SamplingController::end_window() {
  read_window([this] {
    for (std::size_t m = 0; m < metrics_.size(); ++m)
      estimates_[m].add(metrics_[m].read(), metrics_[m].per ? metrics_[m].per() : 1.0);
  });
}

SamplingResults::SamplingResults(const Scope& root, const SamplingController& controller)
    : controller_(controller),
      windows_(root.child("sampling"), "windows", "windows", "measured windows the estimates are the mean of"),
      confidence_(root.child("sampling"), "confidence", "probability", "confidence level of every half_width") {
  for (const auto& m : controller.metrics()) {
    const Scope s = root.child("sampling").child(m.name);
    rows_.push_back({std::make_unique<Scalar>(s, "mean", m.unit, "sampled estimate of " + m.name + ": mean over the windows"),
                     std::make_unique<Scalar>(s, "half_width", m.unit,
                                              "half the confidence interval of " + m.name + ": z * s / sqrt(windows)"),
                     std::make_unique<Scalar>(s, "cv", "ratio",
                                              "coefficient of variation of " + m.name + " over the windows (s / mean)")});
  }
}

void SamplingResults::publish() {
  for (std::size_t m = 0; m < rows_.size(); ++m) {
    const SampleEstimate& e = controller_.estimate(m);
    *rows_[m].mean = controller_.run_estimate(m);
    *rows_[m].half_width = controller_.run_half_width(m);
    *rows_[m].cv = e.coefficient_of_variation();
  }
  windows_ = controller_.metrics().empty() ? 0.0 : static_cast<double>(controller_.estimate(0).count());
  confidence_ = controller_.plan().confidence;
}

}  // namespace virtsim
