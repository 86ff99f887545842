#include "virtsim/common/stats.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace virtsim {

const char* to_string(StatKind kind) {
  switch (kind) {
    case StatKind::Counter: return "counter";
    case StatKind::Scalar: return "scalar";
    case StatKind::Histogram: return "histogram";
    case StatKind::Vector: return "vector";
    case StatKind::Matrix: return "matrix";
    case StatKind::Formula: return "formula";
  }
  return "?";
}

StatBase::StatBase(const Scope& scope, const std::string& leaf, StatKind kind, std::string unit,
                   std::string description)
    : registry_(scope.stats),
      name_(scope.join(leaf)),
      kind_(kind),
      unit_(std::move(unit)),
      description_(std::move(description)) {
  if (registry_) registry_->add(this);
}

StatBase::~StatBase() {
  if (registry_) registry_->remove(this);
}

Histogram::Histogram(const Scope& scope, const std::string& leaf, std::string unit,
                     std::string description, double low, double width, std::size_t buckets)
    : StatBase(scope, leaf, StatKind::Histogram, std::move(unit), std::move(description)),
      low_(low),
      width_(width),
      unit_width_(width == 1.0),
      counts_(buckets, 0) {
  if (width <= 0 || buckets == 0) throw std::logic_error("histogram " + name() + " needs width > 0 and buckets > 0");
}

void Histogram::reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  underflow_ = overflow_ = samples_ = 0;
  sum_ = 0.0;
  min_ = std::numeric_limits<double>::infinity();
  max_ = -std::numeric_limits<double>::infinity();
}

VectorStat::VectorStat(const Scope& scope, const std::string& leaf, std::string unit,
                       std::string description, std::vector<std::string> labels)
    : StatBase(scope, leaf, StatKind::Vector, std::move(unit), std::move(description)),
      labels_(std::move(labels)),
      counts_(labels_.size(), 0) {}

void VectorStat::reset() { std::fill(counts_.begin(), counts_.end(), 0); }

double VectorStat::value() const {
  return static_cast<double>(std::accumulate(counts_.begin(), counts_.end(), std::uint64_t{0}));
}

MatrixStat::MatrixStat(const Scope& scope, const std::string& leaf, std::string unit,
                       std::string description, std::vector<std::string> row_labels,
                       std::vector<std::string> column_labels)
    : StatBase(scope, leaf, StatKind::Matrix, std::move(unit), std::move(description)),
      row_labels_(std::move(row_labels)),
      column_labels_(std::move(column_labels)),
      cells_(row_labels_.size() * column_labels_.size(), 0) {}

void MatrixStat::reset() { std::fill(cells_.begin(), cells_.end(), 0); }

double MatrixStat::value() const {
  return static_cast<double>(std::accumulate(cells_.begin(), cells_.end(), std::uint64_t{0}));
}

void StatRegistry::add(StatBase* stat) {
  if (find(stat->name())) throw std::logic_error("statistic declared twice: " + stat->name());
  stats_.push_back(stat);
}

void StatRegistry::remove(StatBase* stat) {
  stats_.erase(std::remove(stats_.begin(), stats_.end(), stat), stats_.end());
  const auto it = std::find(timeline_stats_.begin(), timeline_stats_.end(), stat);
  if (it != timeline_stats_.end()) {
    // A statistic that dies mid-run leaves the timeline; its recorded column goes too.
    const auto column = static_cast<std::size_t>(it - timeline_stats_.begin());
    timeline_stats_.erase(it);
    timeline_columns_.erase(timeline_columns_.begin() + static_cast<std::ptrdiff_t>(column));
    for (auto& row : timeline_) row.values.erase(row.values.begin() + static_cast<std::ptrdiff_t>(column));
  }
}

const StatBase* StatRegistry::find(const std::string& name) const {
  for (const auto* s : stats_)
    if (s->name() == name) return s;
  return nullptr;
}

std::vector<const StatBase*> StatRegistry::match(const std::string& pattern) const {
  std::vector<const StatBase*> out;
  for (const auto* s : stats_)
    if (key_matches(pattern, s->name())) out.push_back(s);
  return out;
}

void StatRegistry::reset_all() {
  for (auto* s : stats_) s->reset();
  timeline_.clear();
}

void StatRegistry::dump_timeline(Cycles cycle) {
  if (timeline_columns_.empty()) {
    for (const auto* s : stats_) {
      if (s->kind() == StatKind::Counter || s->kind() == StatKind::Scalar || s->kind() == StatKind::Formula) {
        timeline_columns_.push_back(s->name());
        timeline_stats_.push_back(s);
      }
    }
  }
  TimelineRow row;
  row.cycle = cycle;
  row.values.reserve(timeline_stats_.size());
  for (const auto* s : timeline_stats_) row.values.push_back(s->value());
  timeline_.push_back(std::move(row));
}

}  // namespace virtsim
