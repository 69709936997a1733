// One operator instance's link to the query's checkpoints: where it sends
// the parts of its snapshots, how it acknowledges a barrier, and the state a
// restored run hands it.
//
// Every instance that holds state (sources, keyed operators, watermark
// generators, sinks) gets one when it is built. At an aligned barrier it
// writes its parts with add_part (only when storing(): a query without
// checkpoint storage runs the barrier protocol but keeps nothing) and then
// acknowledges; the checkpoint completes once every instance acknowledged
// (or ended). At its end of input an instance hands over its final parts
// with ended(): they stand for it in every later checkpoint.
//
// Part keys name what a part holds within the operator: "kg/<n>" for key
// group n (any instance of any run may own it), "kgd/<n>/<d>" for delta d
// on top of it (keyed_operator_base.hpp), "instance/<i>" for what
// worker i's instance alone holds (source positions, sink handles,
// watermark generators), restored as the union over all instances.
//
// Thread safety: an OperatorState belongs to one instance, on one worker.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "streaming/checkpoint_storage.hpp"
#include "streaming/detail/checkpoint_coordinator.hpp"
#include "streaming/detail/worker.hpp"
#include "streaming/serde.hpp"

namespace sluice::detail {

/// The part key of key group `kg`: "kg/<kg>".
std::string key_group_part(std::uint32_t kg);
/// The part key of delta `n` (from 1) of key group `kg`: "kgd/<kg>/<n>".
std::string key_group_delta_part(std::uint32_t kg, std::uint32_t n);
/// The part key of worker `index`'s instance: "instance/<index>".
std::string instance_part(std::size_t index);

class OperatorState : public Lifecycle {  // a Lifecycle only to be owned by the worker
 public:
  /// `restored`: the checkpoint this run starts from (null: a fresh start).
  /// `worker`: the worker running the instance, which runs the background
  /// part of its snapshots (null: snapshots are taken at the barrier in full).
  OperatorState(std::shared_ptr<CheckpointCoordinator> coordinator, std::string operator_name,
                const RestoredCheckpoint* restored, Worker* worker = nullptr)
      : coordinator_(std::move(coordinator)),
        name_(std::move(operator_name)),
        slot_(coordinator_->add_participant(name_)),
        restored_(restored),
        worker_(worker) {}

  const std::string& operator_name() const { return name_; }

  /// The newest checkpoint requested (0: none): sources inject its barrier.
  std::uint64_t requested() const { return coordinator_->requested(); }
  /// Whether snapshots are kept: false when the query has no checkpoint
  /// storage (then add_part ignores what it gets; skip serializing).
  bool storing() const { return coordinator_->storing(); }
  /// Adds part `key` of checkpoint `id`. Call before acknowledge(id).
  void add_part(std::uint64_t id, std::string key, std::string bytes) {
    coordinator_->add_part(id, name_, std::move(key), std::move(bytes));
  }
  /// Adds part `key` of checkpoint `id` by reference to the same part of
  /// checkpoint base_of(id) (non-zero), whose bytes it equals. Call before
  /// acknowledge(id).
  void reuse_part(std::uint64_t id, std::string key) { coordinator_->reuse_part(id, name_, std::move(key)); }
  /// The checkpoint whose parts checkpoint `id` may reuse (0: write every
  /// part in full). See CheckpointCoordinator::base_of.
  std::uint64_t base_of(std::uint64_t id) const { return coordinator_->base_of(id); }
  /// This instance spent `us` snapshotting checkpoint `id` (metrics).
  void note_snapshot_time(std::uint64_t id, std::uint64_t us) { coordinator_->note_snapshot_time(id, us); }
  /// This instance has snapshotted checkpoint `id` and forwarded its barrier.
  void acknowledge(std::uint64_t id) { coordinator_->acknowledge(slot_, id); }
  /// This instance has ended; `final_parts` (key, bytes) are its state from
  /// now on, for every checkpoint still to complete.
  void ended(std::vector<std::pair<std::string, std::string>> final_parts = {}) {
    coordinator_->ended(slot_, std::move(final_parts));
  }

  /// Whether snapshots may finish in the background (a worker runs them).
  bool can_defer() const { return worker_ != nullptr; }
  /// Has the worker run `work` in slices until it is done. Precondition: can_defer().
  void run_in_background(BackgroundWork& work) { worker_->add_background(work); }

  /// The newest committed checkpoint (0: none).
  std::uint64_t completed() const { return coordinator_->completed(); }

  /// At barrier `id`: calls write(w) (always: a sink pre-commits there),
  /// adds what it wrote as this instance's part "instance/<index>" after the
  /// state format version when storing, then acknowledges.
  template <class Write>
  void snapshot_instance(std::uint64_t id, std::size_t index, Write&& write) {
    std::string bytes = instance_bytes(write);
    if (storing()) add_part(id, instance_part(index), std::move(bytes));
    acknowledge(id);
  }
  /// At end of input: the same, as this instance's final state.
  template <class Write>
  void end_instance(std::size_t index, Write&& write) {
    std::string bytes = instance_bytes(write);
    std::vector<std::pair<std::string, std::string>> parts;
    if (storing()) parts.emplace_back(instance_part(index), std::move(bytes));
    ended(std::move(parts));
  }
  /// The restored "instance/<i>" parts by index, each after its state
  /// format version (checked); empty when not restoring or the checkpoint
  /// has none of this operator.
  std::vector<std::string_view> restored_instance_states() const;

  /// The checkpoint this run restores (null: a fresh start).
  const RestoredCheckpoint* restored() const { return restored_; }
  /// This operator's part `key` in the restored checkpoint, or null.
  const std::string* restored_part(std::string_view key) const;
  /// This operator's restored parts whose key starts with `prefix`, in key
  /// order (empty when not restoring).
  std::vector<std::string_view> restored_parts(std::string_view prefix) const;
  /// This operator's "instance/<i>" parts in the restored checkpoint, by
  /// index i (so the size is the worker count of the run that wrote them);
  /// empty when not restoring. Throws StateFormatError when an index is
  /// missing or malformed.
  std::vector<std::string_view> restored_instances() const;

 private:
  template <class Write>
  static std::string instance_bytes(Write& write) {
    StateWriter w;
    w.write(kStateFormatVersion);
    write(w);
    return w.take();
  }

  std::shared_ptr<CheckpointCoordinator> coordinator_;
  std::string name_;
  std::size_t slot_;
  const RestoredCheckpoint* restored_;
  Worker* worker_;
};

}  // namespace sluice::detail
