// Side outputs: extra typed streams an operator can emit to.
//
// An `OutputTag<U>` names a side stream of U. Operators that support side
// outputs (process functions, sources for dead letters, time-based operators
// for late data) expose them with `stream.side_output(tag)`. A tag's identity
// is its id, unique per process; the name is for people.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "streaming/dataflow.hpp"
#include "streaming/errors.hpp"

namespace sluice {

namespace detail {
std::uint64_t next_output_tag_id();
}

template <class U>
class OutputTag {
 public:
  explicit OutputTag(std::string name) : name_(std::move(name)), id_(detail::next_output_tag_id()) {}
  const std::string& name() const { return name_; }
  std::uint64_t id() const { return id_; }

 private:
  std::string name_;
  std::uint64_t id_;
};

/// The tag of every operator's dead-letter output.
const OutputTag<DeadLetter>& dead_letter_tag();

namespace detail {

class FlowGate;

class SideOutputBase {
 public:
  explicit SideOutputBase(std::uint64_t tag_id) : tag_id_(tag_id) {}
  virtual ~SideOutputBase() = default;
  std::uint64_t tag_id() const { return tag_id_; }
  virtual void flush() = 0;
  virtual void control(const Control& c) = 0;
  virtual void reachable_gates(std::vector<FlowGate*>& out) = 0;

 private:
  std::uint64_t tag_id_;
};

template <class U>
class SideOutput final : public SideOutputBase {
 public:
  using SideOutputBase::SideOutputBase;
  Output<U>& output() { return out_; }
  void emit(U value, Timestamp ts) { buf_.push_back(Record<U>{std::move(value), ts}); }
  std::size_t buffered() const { return buf_.size(); }
  void flush() override {
    if (buf_.empty()) return;
    out_.push(buf_);
    buf_.clear();
  }
  void control(const Control& c) override {
    flush();
    out_.control(c);
  }
  void reachable_gates(std::vector<FlowGate*>& out) override { out_.reachable_gates(out); }

 private:
  Output<U> out_;
  Batch<U> buf_;
};

/// The side outputs of one operator instance. Lookup is a short linear scan:
/// side outputs are the rare path.
class SideOutputs {
 public:
  template <class U>
  SideOutput<U>* find(std::uint64_t tag_id) {
    for (auto& s : sides_)
      if (s->tag_id() == tag_id) return static_cast<SideOutput<U>*>(s.get());
    return nullptr;
  }
  void add(std::unique_ptr<SideOutputBase> side) { sides_.push_back(std::move(side)); }
  void flush() {
    for (auto& s : sides_) s->flush();
  }
  void control(const Control& c) {
    for (auto& s : sides_) s->control(c);
  }
  void reachable_gates(std::vector<FlowGate*>& out) {
    for (auto& s : sides_) s->reachable_gates(out);
  }
  bool empty() const { return sides_.empty(); }

 private:
  std::vector<std::unique_ptr<SideOutputBase>> sides_;
};

}  // namespace detail
}  // namespace sluice
