#include "streaming/engine.hpp"

#include <exception>

namespace sluice {

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
  if (workers > max_parallelism)
    throw ConfigError("QueryOptions", "workers",
                      "must be <= max_parallelism (" + std::to_string(max_parallelism) + "), got " +
                          std::to_string(workers));
  if (batch_size == 0) throw ConfigError("QueryOptions", "batch_size", "must be > 0");
  if (tick_interval_us <= 0) throw ConfigError("QueryOptions", "tick_interval_us", "must be > 0");
  exchange_buffer.validate("QueryOptions.exchange_buffer");
  if (exchange_buffer.strategy == Backpressure::kDropOldest || exchange_buffer.strategy == Backpressure::kDropNewest)
    throw ConfigError("QueryOptions.exchange_buffer", "strategy",
                      std::string(to_string(exchange_buffer.strategy)) +
                          " would drop in-band watermarks between workers; use Block, Signal or Adaptive here and "
                          "a dropping strategy on the source buffer");
}

Query::Query(std::string name, const Job& job, const detail::RunSettings& settings)
    : name_(std::move(name)), graph_(job.graph()), settings_(settings) {
  for (std::size_t w = 0; w < settings_.workers; ++w)
    workers_.push_back(std::make_unique<detail::Worker>(w, *settings_.clock, settings_.tick_interval_us));
  for (auto& w : workers_) shared_.workers.push_back(w.get());
  shared_.by_node.resize(graph_->nodes().size());
  for (const auto& node : graph_->nodes()) node->prepare(settings_, shared_, metrics_);
  for (auto& worker : workers_) {
    detail::BuildContext ctx(settings_, *worker, metrics_, shared_, graph_->port_count());
    for (const auto& node : graph_->nodes()) node->instantiate(ctx);
  }
}

void Query::launch() {
  running_.store(workers_.size());
  for (std::size_t w = 0; w < workers_.size(); ++w) threads_.emplace_back([this, w] { worker_main(w); });
}

void Query::worker_main(std::size_t index) {
  try {
    workers_[index]->run(stop_, drain_);
  } catch (const std::exception& e) {
    std::lock_guard lock(mu_);
    if (error_.empty()) error_ = "worker " + std::to_string(index) + ": " + e.what();
    stop_.store(true);
  } catch (...) {
    std::lock_guard lock(mu_);
    if (error_.empty()) error_ = "worker " + std::to_string(index) + ": unknown exception";
    stop_.store(true);
  }
  if (running_.fetch_sub(1) == 1) {
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
  return QueryStatus{state_, error_};
}

QueryMetrics Query::metrics() const { return metrics_.snapshot(settings_.clock->now_us()); }

void Query::stop(StopMode mode) {
  if (mode == StopMode::kDrain) {
    drain_.store(true);
  } else {
    cancelled_.store(true);
    stop_.store(true);
  }
  for (auto& w : workers_) w->wake().signal();
  wait();
  join();
}

void Query::wait() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return state_ != QueryState::kRunning; });
}

void Query::join() {
  std::lock_guard lock(join_mu_);
  for (auto& t : threads_)
    if (t.joinable()) t.join();
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
  if (options.workers == 0) options.workers = options_.workers;
  options.validate();
  job.graph()->validate(job.name());
  {
    std::lock_guard lock(mu_);
    auto it = queries_.find(name);
    if (it != queries_.end() && it->second->status().state == QueryState::kRunning)
      throw SluiceError("query '" + name + "' is already running; stop it before starting it again");
  }
  detail::RunSettings settings{options.workers, options.max_parallelism, options.batch_size, options.exchange_buffer,
                               options.clock ? options.clock : clock_, options.tick_interval_us};
  // Built outside the lock: sources may open files.
  std::shared_ptr<Query> q(new Query(name, job, settings));
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
  if (s.state == QueryState::kFailed) throw SluiceError("job '" + name_ + "' failed: " + s.error);
  return q->metrics();
}

}  // namespace sluice
