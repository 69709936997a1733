#include "streaming/engine.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <iostream>

namespace sluice {

namespace {
// The query whose worker runs on this thread, so stop() and wait() can tell
// when they are called from inside it.
thread_local const Query* t_running_query = nullptr;
}  // namespace

const char* to_string(QueryState s) {
  switch (s) {
    case QueryState::kRunning: return "running";
    case QueryState::kFinished: return "finished";
    case QueryState::kStopped: return "stopped";
    case QueryState::kFailed: return "failed";
  }
  return "?";
}

void QueryOptions::validate() const {
  if (max_parallelism == 0 || max_parallelism > 32768)
    throw ConfigError("QueryOptions", "max_parallelism", "must be in [1, 32768], got " + std::to_string(max_parallelism));
  if (workers > kMaxWorkers)
    throw ConfigError("QueryOptions", "workers",
                      "must be <= " + std::to_string(kMaxWorkers) + " (every pair of workers has a channel at each "
                      "exchange); got " + std::to_string(workers));
  if (workers > max_parallelism)
    throw ConfigError("QueryOptions", "workers",
                      "must be <= max_parallelism (" + std::to_string(max_parallelism) + "), got " +
                          std::to_string(workers));
  if (batch_size == 0 || batch_size > kMaxBatchSize)
    throw ConfigError("QueryOptions", "batch_size",
                      "must be in [1, " + std::to_string(kMaxBatchSize) + "], got " + std::to_string(batch_size));
  if (tick_interval_us <= 0) throw ConfigError("QueryOptions", "tick_interval_us", "must be > 0");
  if (checkpoints.interval_us < 0)
    throw ConfigError("QueryOptions.checkpoints", "interval_us", "must be >= 0 (0: no periodic checkpoints)");
  if (checkpoints.retained == 0) throw ConfigError("QueryOptions.checkpoints", "retained", "must be >= 1");
  if (checkpoints.timeout.count() <= 0) throw ConfigError("QueryOptions.checkpoints", "timeout", "must be > 0");
  if (checkpoints.storage == nullptr &&
      (checkpoints.interval_us > 0 || checkpoints.restore_id || checkpoints.restore_savepoint))
    throw ConfigError("QueryOptions.checkpoints",
                      checkpoints.interval_us > 0 ? "interval_us"
                      : checkpoints.restore_id    ? "restore_id"
                                                  : "restore_savepoint",
                      "needs storage (e.g. sluice::rocksdb_checkpoints(dir))");
  if (checkpoints.restore_id && checkpoints.restore_savepoint)
    throw ConfigError("QueryOptions.checkpoints", "restore_savepoint", "give restore_id or restore_savepoint, not both");
  exchange_buffer.validate("QueryOptions.exchange_buffer");
  if (exchange_buffer.strategy == Backpressure::kDropOldest || exchange_buffer.strategy == Backpressure::kDropNewest)
    throw ConfigError("QueryOptions.exchange_buffer", "strategy",
                      std::string(to_string(exchange_buffer.strategy)) +
                          " would drop in-band watermarks between workers; use Block, Signal or Adaptive here and "
                          "a dropping strategy on the source buffer");
}

namespace {

constexpr const char* kQueryPart = "__query__";  // the run's own settings, as an operator name

// What a checkpoint records about the run that took it: max_parallelism
// (key groups cannot change) and the worker count (for the log).
std::string run_settings_part(const detail::RunSettings& s) {
  StateWriter w;
  w.write(kStateFormatVersion);
  w.write(static_cast<std::uint64_t>(s.max_parallelism));
  w.write(static_cast<std::uint64_t>(s.workers));
  return w.take();
}

// Refuses a checkpoint this job cannot continue from, naming what differs.
void check_restorable(const RestoredCheckpoint& cp, const detail::Graph& graph, const detail::RunSettings& s) {
  const std::string what = "checkpoint " + std::to_string(cp.id);
  auto q = cp.parts.find(kQueryPart);
  if (q == cp.parts.end() || !q->second.contains("settings"))
    throw StateFormatError(what, std::nullopt, "it has no run settings part (not written by a Sluice query)");
  StateReader r(q->second.find("settings")->second);
  check_state_format_version(r.read<std::uint32_t>());
  const auto max_parallelism = r.read<std::uint64_t>();
  if (max_parallelism != s.max_parallelism)
    throw ConfigError("QueryOptions", "max_parallelism",
                      what + " was taken with max_parallelism " + std::to_string(max_parallelism) +
                          " and this run asks for " + std::to_string(s.max_parallelism) +
                          "; key groups are fixed for the life of a job's state");
  for (const auto& [op, parts] : cp.parts) {
    if (op == kQueryPart || graph.has_name(op)) continue;
    throw ConfigError("CheckpointOptions", "restore",
                      what + " holds state of operator '" + op +
                          "', which this job does not have (renamed or removed?); its state would be lost. Give "
                          "the operator its old name, or start without restoring (restore = false)");
  }
}

std::size_t stored_bytes(const RestoredCheckpoint& cp) {
  std::size_t n = 0;
  for (const auto& [op, parts] : cp.parts)
    for (const auto& [key, bytes] : parts) n += bytes.size();
  return n;
}

// Triggers periodic checkpoints on worker 0's tick (the query's clock).
class CheckpointTimer final : public detail::Lifecycle {
 public:
  CheckpointTimer(detail::CheckpointCoordinator& coordinator, DurationUs interval_us)
      : coordinator_(coordinator), interval_us_(interval_us) {}
  void on_processing_time(Timestamp now) override {
    if (next_us_ == kMinTimestamp) next_us_ = saturating_add(now, interval_us_);
    if (now < next_us_) return;
    next_us_ = saturating_add(now, interval_us_);
    coordinator_.trigger();
  }

 private:
  detail::CheckpointCoordinator& coordinator_;
  DurationUs interval_us_;
  Timestamp next_us_ = kMinTimestamp;
};

}  // namespace

void Query::open_checkpoints(const CheckpointOptions& o) {
  auto log = o.log;
  if (!log) log = [](const std::string& line) { std::cerr << ("sluice: " + line + "\n"); };
  if (o.storage == nullptr) {
    checkpoints_ = std::make_shared<detail::CheckpointCoordinator>(shared_.workers);
    return;
  }
  std::unique_ptr<CheckpointSession> session = o.storage->open(name_, o.retained, log);
  std::optional<RestoredCheckpoint> restored;
  if (o.restore_savepoint) {
    restored = session->read_savepoint(*o.restore_savepoint);
  } else if (o.restore_id) {
    restored = session->restore(*o.restore_id);
  } else if (o.restore) {
    restored = session->restore_latest();
  }
  if (restored) {
    check_restorable(*restored, *graph_, settings_);
    restored_ = std::make_unique<RestoredCheckpoint>(std::move(*restored));
    restored_id_ = restored_->id;
    log("query '" + name_ + "': restoring " + (restored_->is_savepoint ? "savepoint " : "checkpoint ") +
        std::to_string(restored_id_) + " (" + std::to_string(stored_bytes(*restored_)) + " bytes) from " +
        (o.restore_savepoint ? "'" + o.restore_savepoint->string() + "'" : o.storage->describe()));
  } else {
    log("query '" + name_ + "': " + (o.restore ? "no checkpoint to restore in " : "not restoring from ") +
        o.storage->describe() + "; starting fresh");
  }
  const std::uint64_t next_id = session->newest_id() + 1;
  checkpoints_ = std::make_shared<detail::CheckpointCoordinator>(shared_.workers, std::move(session), next_id,
                                                                 o.timeout, log);
  checkpoints_->set_incremental(o.incremental);
  // The first checkpoint may refer to the one restored when that is the
  // newest stored (so surely kept and undamaged); else it writes in full.
  if (restored_ && !o.restore_savepoint && !restored_->is_savepoint && restored_id_ + 1 == next_id)
    checkpoints_->set_restored_base(restored_id_);
  shared_.restored = restored_.get();
  if (!o.restore && !o.restore_id && !o.restore_savepoint) checkpoints_->set_fresh_start();
  // Too many failed checkpoints in a row fail the query (the coordinator wakes the workers).
  checkpoints_->set_failure_policy(o.tolerable_failures, [this](const std::string& why) {
    const std::string what = "checkpoints: " + why;
    record_failure(what, "", std::make_exception_ptr(SluiceError("query '" + name_ + "': " + what)));
  });
  // The run's settings: a participant that has ended from the start.
  const std::size_t slot = checkpoints_->add_participant(kQueryPart);
  checkpoints_->ended(slot, {{"settings", run_settings_part(settings_)}});
}

Query::Query(std::string name, const Job& job, const detail::RunSettings& settings, const CheckpointOptions& checkpoints)
    : name_(std::move(name)), graph_(job.graph()), settings_(settings), started_at_us_(settings_.clock->now_us()) {
  for (const auto& node : graph_->nodes()) {
    topology_.nodes.push_back(GraphNode{node->id(), node->name(), node->kind()});
    for (int port : node->inputs()) topology_.edges.push_back(GraphEdge{graph_->producer(port), node->id()});
  }
  for (std::size_t w = 0; w < settings_.workers; ++w)
    workers_.push_back(std::make_unique<detail::Worker>(w, *settings_.clock, settings_.tick_interval_us));
  for (auto& w : workers_) shared_.workers.push_back(w.get());
  open_checkpoints(checkpoints);
  shared_.checkpoints = checkpoints_;
  shared_.by_node.resize(graph_->nodes().size());
  shared_.port_consumers = graph_->port_consumers();
  for (const auto& node : graph_->nodes()) node->prepare(settings_, shared_, metrics_);
  for (auto& worker : workers_) {
    metrics_.begin_worker(worker->index());
    detail::BuildContext ctx(settings_, *worker, metrics_, shared_, graph_->port_count());
    for (const auto& node : graph_->nodes()) node->instantiate(ctx);
  }
  if (checkpoints.interval_us > 0)
    workers_.front()->own(std::make_unique<CheckpointTimer>(*checkpoints_, checkpoints.interval_us));
}

void Query::launch() {
  // Counted once: the last worker to finish releases workers_, possibly
  // before this loop ends (TSan saw it with a 100-record job).
  const std::size_t n = workers_.size();
  running_.store(n);
  for (std::size_t w = 0; w < n; ++w) threads_.emplace_back([this, w] { worker_main(w); });
}

void Query::record_failure(std::string what, std::string op, std::exception_ptr failure) {
  {
    std::lock_guard lock(mu_);
    if (error_.empty()) {
      error_ = std::move(what);
      failed_operator_ = std::move(op);
      failure_ = std::move(failure);
    }
  }
  stop_.store(true);
}

void Query::worker_main(std::size_t index) {
  t_running_query = this;
  try {
    workers_[index]->run(stop_, drain_);
  } catch (...) {
    // The first failure wins: its text for status(), the exception for Job::run.
    std::exception_ptr failure = std::current_exception();
    std::string what = "unknown exception";
    std::string op;
    try {
      std::rethrow_exception(failure);
    } catch (const OperatorError& e) {
      what = e.what();
      op = e.operator_name();
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    record_failure("worker " + std::to_string(index) + ": " + what, std::move(op), std::move(failure));
  }
  if (running_.fetch_sub(1) == 1) {
    // Every worker is out of run(): nothing uses the operators any more.
    release();
    std::lock_guard lock(mu_);
    if (!error_.empty()) {
      state_ = QueryState::kFailed;
    } else if (cancelled_.load()) {
      state_ = QueryState::kStopped;
    } else {
      state_ = drain_.load() ? QueryState::kStopped : QueryState::kFinished;
    }
    cv_.notify_all();
  }
}

QueryStatus Query::status() const {
  std::lock_guard lock(mu_);
  return QueryStatus{state_, error_, failed_operator_};
}

QueryMetrics Query::metrics() const { return metrics_.snapshot(settings_.clock->now_us()); }

std::exception_ptr Query::failure() const {
  std::lock_guard lock(mu_);
  return failure_;
}

bool Query::on_own_worker() const { return t_running_query == this; }

void Query::request_stop(StopMode mode) {
  if (mode == StopMode::kDrain) {
    drain_.store(true);
  } else {
    cancelled_.store(true);
    stop_.store(true);
  }
  std::lock_guard lock(workers_mu_);
  for (auto& w : workers_) w->wake().signal();
}

void Query::stop(StopMode mode, std::chrono::milliseconds drain_timeout) {
  request_stop(mode);
  if (on_own_worker()) return;
  if (mode == StopMode::kDrain && !wait_for(drain_timeout)) {
    std::fprintf(stderr, "sluice: query '%s': drain did not finish within %lld ms; cancelling\n", name_.c_str(),
                 static_cast<long long>(drain_timeout.count()));
    request_stop(StopMode::kCancel);
  }
  wait();
  join();
}

void Query::wait() {
  if (on_own_worker())
    throw SluiceError("query '" + name_ + "': wait() called from one of its own workers would wait for itself");
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return state_ != QueryState::kRunning; });
}

std::uint64_t Query::checkpoint_now() { return checkpoints_->trigger(); }

bool Query::wait_for_checkpoint(std::uint64_t id, std::chrono::milliseconds timeout) {
  return checkpoints_->wait_completed(id, timeout);
}

std::uint64_t Query::last_completed_checkpoint() const { return checkpoints_->completed(); }

std::uint64_t Query::savepoint(const std::filesystem::path& dir, std::chrono::milliseconds timeout) {
  const std::uint64_t id = checkpoint_now();
  if (!wait_for_checkpoint(id, timeout))
    throw SluiceError("query '" + name_ + "': savepoint: checkpoint " + std::to_string(id) +
                      " did not complete within " + std::to_string(timeout.count()) + " ms" +
                      (checkpoint_stats().last_error.empty() ? "" : " (" + checkpoint_stats().last_error + ")"));
  checkpoints_->write_savepoint(id, dir);
  return id;
}

CheckpointStats Query::checkpoint_stats() const {
  CheckpointStats s = checkpoints_->counters();
  s.restored_id = restored_id_;
  return s;
}

void Query::release() {
  // Destroyed outside the lock; workers (operators, tasks) before the
  // channels and shared state they point into.
  detail::SharedState shared;
  std::vector<std::unique_ptr<detail::Worker>> workers;
  std::shared_ptr<const detail::Graph> graph;
  checkpoints_->detach_workers();
  {
    std::lock_guard lock(workers_mu_);
    workers.swap(workers_);
    shared = std::move(shared_);
    graph.swap(graph_);
  }
  workers.clear();
  // Commits what is complete, aborts the rest, and lets the storage go (a
  // restart may open it at once).
  checkpoints_->close();
  restored_.reset();
}

void Query::join() {
  std::lock_guard lock(join_mu_);
  for (auto& t : threads_) {
    if (!t.joinable()) continue;
    if (t.get_id() == std::this_thread::get_id()) {
      t.detach();  // the query is being destroyed from its own worker: that thread exits on its own
    } else {
      t.join();
    }
  }
}

Query::~Query() {
  if (!threads_.empty()) {
    cancelled_.store(true);
    stop_.store(true);
    join();
  }
}

Engine::Engine(EngineOptions options)
    : options_(options), clock_(options.clock ? options.clock : &SystemClock::instance()) {
  if (options_.workers == 0) options_.workers = std::max(1u, std::thread::hardware_concurrency());
}

Engine::~Engine() { shutdown(StopMode::kCancel); }

std::shared_ptr<Query> Engine::start(const std::string& name, const Job& job, QueryOptions options) {
  if (name.empty()) throw ConfigError("Engine::start", "name", "query name must not be empty");
  if (options.workers == 0) options.workers = std::min({options_.workers, options.max_parallelism, QueryOptions::kMaxWorkers});
  options.validate();
  job.graph()->validate(job.name());
  reap();
  {
    std::lock_guard lock(mu_);
    auto it = queries_.find(name);
    if (it != queries_.end() && it->second->status().state == QueryState::kRunning)
      throw SluiceError("query '" + name + "' is already running; stop it before starting it again");
  }
  detail::RunSettings settings{options.workers, options.max_parallelism, options.batch_size, options.exchange_buffer,
                               options.clock ? options.clock : clock_, options.tick_interval_us};
  // Built outside the lock: sources may open files.
  std::shared_ptr<Query> q(new Query(name, job, settings, options.checkpoints));
  {
    std::lock_guard lock(mu_);
    auto it = queries_.find(name);
    if (it != queries_.end() && it->second->status().state == QueryState::kRunning)
      throw SluiceError("query '" + name + "' is already running; stop it before starting it again");
    queries_[name] = q;
  }
  q->launch();
  return q;
}

std::shared_ptr<Query> Engine::get(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = queries_.find(name);
  return it == queries_.end() ? nullptr : it->second;
}

void Engine::reap() {
  std::vector<std::shared_ptr<Query>> ended;
  {
    std::lock_guard lock(mu_);
    for (auto& [n, q] : queries_)
      if (q->status().state != QueryState::kRunning) ended.push_back(q);
  }
  for (auto& q : ended) q->join();
}

bool Engine::remove(const std::string& name) {
  std::shared_ptr<Query> q;
  {
    std::lock_guard lock(mu_);
    auto it = queries_.find(name);
    if (it == queries_.end()) return false;
    if (it->second->status().state == QueryState::kRunning)
      throw SluiceError("query '" + name + "' is running; stop it before removing it");
    q = std::move(it->second);
    queries_.erase(it);
  }
  q->join();
  return true;
}

std::uint64_t Engine::savepoint(const std::string& name, const std::filesystem::path& dir) {
  std::shared_ptr<Query> q = get(name);
  if (q == nullptr) throw SluiceError("savepoint: no query named '" + name + "'");
  return q->savepoint(dir);
}

std::vector<std::string> Engine::list() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> names;
  for (const auto& [n, q] : queries_) names.push_back(n);
  return names;
}

void Engine::shutdown(StopMode mode) {
  std::vector<std::shared_ptr<Query>> all;
  {
    std::lock_guard lock(mu_);
    for (auto& [n, q] : queries_) all.push_back(q);
  }
  for (auto& q : all) q->stop(mode);
}

QueryMetrics Job::run() { return run(QueryOptions{}); }

QueryMetrics Job::run(const QueryOptions& options) {
  Engine engine;
  auto q = engine.start(name_, *this, options);
  q->wait();
  q->stop();
  QueryStatus s = q->status();
  if (s.state == QueryState::kFailed) {
    // What failed it, as thrown: an OperatorError naming the operator.
    if (std::exception_ptr f = q->failure()) std::rethrow_exception(f);
    throw SluiceError("job '" + name_ + "' failed: " + s.error);
  }
  return q->metrics();
}

}  // namespace sluice
