#include "streaming/detail/checkpoint_coordinator.hpp"

#include <exception>
#include <iostream>

namespace sluice::detail {

CheckpointCoordinator::CheckpointCoordinator(std::vector<Worker*> workers, std::unique_ptr<CheckpointSession> session,
                                             std::uint64_t next_id, std::chrono::milliseconds timeout, Log log)
    : workers_(std::move(workers)),
      session_(std::move(session)),
      timeout_(timeout),
      log_(std::move(log)),
      had_storage_(session_ != nullptr),
      next_id_(std::max<std::uint64_t>(next_id, 1)) {
  if (session_ != nullptr) thread_ = std::thread([this] { run_thread(); });
}

CheckpointCoordinator::~CheckpointCoordinator() { close(); }

void CheckpointCoordinator::close() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  if (writer_ != nullptr) writer_->abort();
  writer_.reset();
  {
    std::lock_guard session_lock(session_mu_);
    session_.reset();
  }
  std::lock_guard lock(mu_);
  if (in_flight_ != 0) finish_locked(in_flight_, false, "the query ended before it completed");
}

std::size_t CheckpointCoordinator::add_participant(std::string operator_name) {
  std::lock_guard lock(mu_);
  participants_.push_back(Participant{std::move(operator_name)});
  return participants_.size() - 1;
}

std::uint64_t CheckpointCoordinator::trigger() {
  std::lock_guard lock(mu_);
  if (stopping_ && had_storage_) {
    // The storage is closed: nothing can be stored any more.
    const std::uint64_t id = next_id_++;
    newest_failed_ = id;
    cv_.notify_all();
    return id;
  }
  if (in_flight_ != 0) {
    another_requested_ = true;
    return next_id_;
  }
  const std::uint64_t id = next_id_++;
  start_locked(id);
  return id;
}

void CheckpointCoordinator::start_locked(std::uint64_t id) {
  in_flight_ = id;
  commit_queued_ = false;
  in_flight_since_ = std::chrono::steady_clock::now();
  in_flight_bytes_ = 0;
  in_flight_written_ = in_flight_reused_ = in_flight_max_snapshot_us_ = 0;
  in_flight_base_ = had_storage_ && incremental_ ? base_candidate_ : 0;
  if (had_storage_) {
    queue_.push_back(Job{Job::Kind::kBegin, id, in_flight_base_});
    cv_.notify_all();
  }
  requested_.store(id, std::memory_order_release);
  wake_workers_locked();
  check_complete_locked();  // a query whose participants all ended completes it at once
}

void CheckpointCoordinator::add_part(std::uint64_t id, const std::string& operator_name, std::string key,
                                     std::string bytes) {
  std::lock_guard lock(mu_);
  if (!had_storage_ || id != in_flight_ || commit_queued_ || stopping_) return;
  in_flight_bytes_ += bytes.size();
  ++in_flight_written_;
  queue_.push_back(Job{Job::Kind::kPart, id, 0, operator_name, std::move(key), std::move(bytes)});
  cv_.notify_all();
}

void CheckpointCoordinator::reuse_part(std::uint64_t id, const std::string& operator_name, std::string key) {
  std::lock_guard lock(mu_);
  if (!had_storage_ || id != in_flight_ || commit_queued_ || stopping_) return;
  ++in_flight_reused_;
  queue_.push_back(Job{Job::Kind::kReuse, id, 0, operator_name, std::move(key)});
  cv_.notify_all();
}

std::uint64_t CheckpointCoordinator::base_of(std::uint64_t id) const {
  std::lock_guard lock(mu_);
  return id == in_flight_ ? in_flight_base_ : 0;
}

void CheckpointCoordinator::note_snapshot_time(std::uint64_t id, std::uint64_t us) {
  std::lock_guard lock(mu_);
  if (id == in_flight_) in_flight_max_snapshot_us_ = std::max(in_flight_max_snapshot_us_, us);
}

void CheckpointCoordinator::acknowledge(std::size_t slot, std::uint64_t id) {
  std::lock_guard lock(mu_);
  Participant& p = participants_.at(slot);
  p.acked = std::max(p.acked, id);
  check_complete_locked();
}

void CheckpointCoordinator::ended(std::size_t slot, Parts final_parts) {
  std::lock_guard lock(mu_);
  Participant& p = participants_.at(slot);
  p.ended = true;
  p.final_parts = std::make_shared<const Parts>(std::move(final_parts));
  check_complete_locked();
}

void CheckpointCoordinator::check_complete_locked() {
  if (in_flight_ == 0 || commit_queued_) return;
  for (const Participant& p : participants_)
    if (!p.ended && p.acked < in_flight_) return;
  if (!had_storage_) {
    finish_locked(in_flight_, true, "");
    return;
  }
  if (stopping_) return;
  Job commit{Job::Kind::kCommit, in_flight_};
  for (const Participant& p : participants_)
    if (p.acked < in_flight_ && p.final_parts != nullptr && !p.final_parts->empty()) {
      commit.finals.emplace_back(p.name, p.final_parts);
      for (const auto& part : *p.final_parts) in_flight_bytes_ += part.second.size();
      in_flight_written_ += p.final_parts->size();
    }
  commit_queued_ = true;
  queue_.push_back(std::move(commit));
  cv_.notify_all();
}

void CheckpointCoordinator::finish_locked(std::uint64_t id, bool ok, const std::string& error) {
  if (id != in_flight_) return;
  if (ok) {
    completed_ = id;
    ++counters_.completed;
    counters_.last_completed_id = id;
    counters_.consecutive_failed = 0;
    counters_.last_bytes = in_flight_bytes_;
    counters_.last_parts_written = in_flight_written_;
    counters_.last_parts_reused = in_flight_reused_;
    counters_.last_max_snapshot_us = in_flight_max_snapshot_us_;
    base_candidate_ = id;
    counters_.last_duration_us = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - in_flight_since_)
            .count());
  } else {
    newest_failed_ = id;
    base_candidate_ = 0;  // what it wrote is gone (or, after a failed commit write, unknown): next one in full
    ++counters_.failed;
    counters_.last_error = error;
    log("checkpoint " + std::to_string(id) + " failed: " + error);
    if (!stopping_ && ++counters_.consecutive_failed > tolerable_failures_ && fail_query_) {
      fail_query_("checkpoint " + std::to_string(id) + " failed: " + error + " (" +
                  std::to_string(counters_.consecutive_failed) +
                  " checkpoints in a row failed, more than CheckpointOptions::tolerable_failures = " +
                  std::to_string(tolerable_failures_) + ")");
      fail_query_ = nullptr;  // once
    }
  }
  in_flight_ = 0;
  commit_queued_ = false;
  cv_.notify_all();
  wake_workers_locked();  // sinks commit on their own thread
  if (another_requested_ && !stopping_) {
    another_requested_ = false;
    start_locked(next_id_++);
  }
}

void CheckpointCoordinator::wake_workers_locked() {
  for (Worker* w : workers_) w->wake().signal();
}

void CheckpointCoordinator::log(const std::string& line) const {
  if (log_) {
    log_(line);
  } else {
    std::cerr << ("sluice: " + line + "\n");
  }
}

std::uint64_t CheckpointCoordinator::completed() const {
  std::lock_guard lock(mu_);
  return completed_;
}

bool CheckpointCoordinator::wait_completed(std::uint64_t id, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return completed_ >= id || newest_failed_ >= id; });
  return completed_ >= id;
}

CheckpointStats CheckpointCoordinator::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

void CheckpointCoordinator::detach_workers() {
  std::lock_guard lock(mu_);
  workers_.clear();
}

void CheckpointCoordinator::run_thread() {
  std::unique_lock lock(mu_);
  for (;;) {
    if (queue_.empty()) {
      if (stopping_) return;
      if (in_flight_ != 0 && !commit_queued_) {
        const std::uint64_t id = in_flight_;
        const auto deadline = in_flight_since_ + timeout_;
        if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && in_flight_ == id && !commit_queued_ &&
            queue_.empty()) {
          finish_locked(id, false, "not complete within " + std::to_string(timeout_.count()) + " ms (timeout)");
        }
      } else {
        cv_.wait(lock);
      }
      continue;
    }
    Job job = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    run_job(job);
    lock.lock();
  }
}

void CheckpointCoordinator::run_job(Job& job) {
  auto fail = [&](const std::string& what) {
    if (writer_ != nullptr) writer_->abort();
    writer_.reset();
    writer_id_ = 0;
    std::lock_guard lock(mu_);
    finish_locked(job.id, false, what);
  };
  try {
    switch (job.kind) {
      case Job::Kind::kBegin:
        if (writer_ != nullptr) writer_->abort();  // an aborted older one
        writer_.reset();
        {
          std::lock_guard lock(mu_);
          if (job.id != in_flight_) return;  // timed out meanwhile
        }
        writer_ = session_->begin(job.id, false, job.base);
        writer_id_ = job.id;
        return;
      case Job::Kind::kPart:
        if (writer_ == nullptr || writer_id_ != job.id) return;
        writer_->add_part(job.name, job.key, job.bytes);
        return;
      case Job::Kind::kReuse:
        if (writer_ == nullptr || writer_id_ != job.id) return;
        writer_->reuse_part(job.name, job.key);
        return;
      case Job::Kind::kCommit:
        if (writer_ == nullptr || writer_id_ != job.id) return;
        for (const auto& [name, parts] : job.finals)
          for (const auto& [key, bytes] : *parts) writer_->add_part(name, key, bytes);
        writer_->commit();
        writer_.reset();
        writer_id_ = 0;
        {
          std::lock_guard lock(mu_);
          finish_locked(job.id, true, "");
        }
        return;
    }
  } catch (const std::exception& e) {
    fail(e.what());
  } catch (...) {
    fail("unknown exception");
  }
}

}  // namespace sluice::detail
