// The engine's HTTP endpoint: what people who run queries watch.
//
//   Engine engine;
//   HttpServer http(engine, {.listen = "127.0.0.1:9249"});   // serving from here on
//   std::printf("metrics at %s/metrics\n", http.url().c_str());
//
// Routes (GET only):
//   /                    the dashboard: a self-contained page (no CDN) polling
//                        /api/queries; one panel per query with throughput,
//                        event-time lag and backpressure plotted over the last
//                        five minutes, the operator graph with per-operator
//                        rates, dead letters and late counts, failures in red
//   /metrics             every query's metrics in the Prometheus text format 0.0.4
//                        (see http/prometheus.hpp for the metric names)
//   /api/queries         JSON: every query's status, metrics and operator graph
//   /api/queries/NAME    JSON: one query (NAME percent-encoded), 404 if unknown
// Anything else is 404; another method on a known path is 405. Requests whose
// header or body exceed the limits get 431 / 413, malformed ones 400, and the
// connection is closed; a client that does not send a whole request within
// `request_timeout_ms` is disconnected; beyond `max_connections` open
// connections, a new one gets 503 and is closed.
//
// Opt-in and read-only: the server runs on one thread of its own and reads
// only what queries already publish (Query::status, metrics, topology), so it
// never slows or blocks a worker. Whatever happens to the server (a bad
// request, a failure, stopping it) never stops a query.
//
// Thread safety: construct and destroy from one thread; `port()`, `url()`
// and `active_connections()` may be called from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace sluice {

class Engine;

namespace detail {
class HttpServerImpl;
}  // namespace detail

struct HttpServerOptions {
  /// Where to listen: "HOST:PORT" with an IPv4 address, or "[IPv6]:PORT".
  /// Port 0 picks a free port (see HttpServer::port()). Binding to anything
  /// but loopback exposes the engine's metrics to the network: do it only on
  /// purpose. Default: "127.0.0.1:9249" (loopback only).
  std::string listen = "127.0.0.1:9249";
  /// Open connections at most; one more is answered 503 and closed. Default: 32.
  std::size_t max_connections = 32;
  /// Longest request line plus headers, in bytes; beyond: 431. Default: 8 KiB.
  std::size_t max_header_bytes = 8 * 1024;
  /// Longest request body, in bytes (GET requests need none); beyond: 413.
  /// Default: 1 KiB.
  std::size_t max_body_bytes = 1024;
  /// Time a client has to send a whole request (and, on a kept-alive
  /// connection, to start the next one) and to take the response, in ms;
  /// then the connection is closed. Default: 10 s.
  std::chrono::milliseconds request_timeout_ms{10'000};
};

class HttpServer {
 public:
  /// Binds and starts serving `engine` at once, on a thread of its own.
  /// Throws ConfigError naming the field for a bad option or an unparsable
  /// `listen`, SluiceError when the address cannot be bound (e.g. in use).
  /// REQUIRES: `engine` outlives the server.
  explicit HttpServer(Engine& engine, HttpServerOptions options = {});
  /// Stops serving: closes the listening socket and every open connection,
  /// and joins the server thread. Queries are not affected.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// The port actually bound (the chosen one when `listen` asked for port 0).
  std::uint16_t port() const;
  /// "http://HOST:PORT" of the bound address, e.g. "http://127.0.0.1:9249".
  std::string url() const;
  /// Connections open right now (for monitoring and tests).
  std::size_t active_connections() const;

 private:
  std::unique_ptr<detail::HttpServerImpl> impl_;
};

}  // namespace sluice
