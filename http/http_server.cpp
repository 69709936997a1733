#include "http/http_server.hpp"

#include <atomic>
#include <cstdio>
#include <optional>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "http/prometheus.hpp"
#include "http/query_json.hpp"
#include "streaming/engine.hpp"
#include "streaming/errors.hpp"

namespace sluice {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace detail {

std::string_view dashboard_html();  // generated from http/dashboard/index.html

namespace {

// "HOST:PORT" or "[V6]:PORT" -> endpoint; throws ConfigError naming `listen`.
tcp::endpoint parse_listen(const std::string& listen) {
  auto bad = [&](const std::string& why) {
    return ConfigError("HttpServerOptions", "listen", "'" + listen + "': " + why + " (expected HOST:PORT, e.g. 127.0.0.1:9249)");
  };
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) throw bad("no port");
  std::string host = listen.substr(0, colon);
  const std::string port_text = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (port_text.empty() || port_text.size() > 5 || port_text.find_first_not_of("0123456789") != std::string::npos)
    throw bad("bad port");
  const unsigned long port = std::stoul(port_text);
  if (port > 65535) throw bad("port beyond 65535");
  boost::system::error_code ec;
  const asio::ip::address address = asio::ip::make_address(host, ec);
  if (ec) throw bad("'" + host + "' is not an IP address");
  return tcp::endpoint(address, static_cast<unsigned short>(port));
}

// Percent-decoding of one path segment; nullopt if malformed.
std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    if (i + 2 >= s.size()) return std::nullopt;
    const int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

using Response = bhttp::response<bhttp::string_body>;

Response make_response(bhttp::status status, unsigned version, std::string body, const char* content_type) {
  Response res(status, version);
  res.set(bhttp::field::server, "sluice");
  res.set(bhttp::field::content_type, content_type);
  res.set(bhttp::field::cache_control, "no-store");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Response error_response(bhttp::status status, unsigned version, const std::string& message) {
  return make_response(status, version, message + "\n", "text/plain; charset=utf-8");
}

}  // namespace

class HttpServerImpl {
 public:
  HttpServerImpl(Engine& engine, HttpServerOptions options);
  ~HttpServerImpl();

  std::uint16_t port() const { return port_; }
  std::string url() const { return url_; }
  std::size_t active_connections() const { return active_.load(); }

  // What a session uses.
  const HttpServerOptions& options() const { return options_; }
  Response respond(const bhttp::request<bhttp::string_body>& req);
  void session_closed() { active_.fetch_sub(1); }

 private:
  void accept();
  void on_accept(tcp::socket socket);
  void run();

  Engine& engine_;
  const HttpServerOptions options_;
  // Declared before the io_context: sessions destroyed with it still count down.
  std::atomic<std::size_t> active_{0};
  asio::io_context ioc_{1};
  tcp::acceptor acceptor_{ioc_};
  asio::steady_timer retry_{ioc_};  // re-arms accept after an accept error
  std::uint16_t port_ = 0;
  std::string url_;
  std::thread thread_;
};

namespace {

// One connection: read a request (within the limits and the timeout),
// answer it, repeat while the client keeps the connection alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServerImpl& server)
      : stream_(std::move(socket)),
        server_(server),
        buffer_(server.options().max_header_bytes + server.options().max_body_bytes) {}
  ~Session() { server_.session_closed(); }

  void start() { read(); }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_.options().max_header_bytes));
    parser_->body_limit(server_.options().max_body_bytes);
    // One deadline for the whole request: a client trickling bytes times out too.
    stream_.expires_after(server_.options().request_timeout_ms);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset || ec == asio::error::eof) {
      close();
      return;
    }
    if (ec) {
      // The request cannot be served; say why, then close (the rest of the
      // input cannot be trusted to frame another request).
      bhttp::status status = bhttp::status::bad_request;
      std::string why = "malformed request: " + ec.message();
      if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
        status = bhttp::status::request_header_fields_too_large;
        why = "request header too large";
      } else if (ec == bhttp::error::body_limit) {
        status = bhttp::status::payload_too_large;
        why = "request body too large";
      }
      send(error_response(status, 11, why), true);
      return;
    }
    const bhttp::request<bhttp::string_body>& req = parser_->get();
    Response res = server_.respond(req);
    // A request we could not make sense of ends the connection: what follows
    // it is no more trustworthy.
    const bool keep = req.keep_alive() && res.result() != bhttp::status::bad_request;
    res.keep_alive(keep);
    send(std::move(res), !keep);
  }

  void send(Response res, bool close_after) {
    res_ = std::move(res);
    if (close_after) res_.keep_alive(false);
    stream_.expires_after(server_.options().request_timeout_ms);
    bhttp::async_write(stream_, res_, [self = shared_from_this(), close_after](beast::error_code ec, std::size_t) {
      if (ec || close_after) {
        self->close();
      } else {
        self->read();
      }
    });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  HttpServerImpl& server_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  Response res_;
};

}  // namespace

HttpServerImpl::HttpServerImpl(Engine& engine, HttpServerOptions options)
    : engine_(engine), options_(std::move(options)) {
  if (options_.max_connections == 0) throw ConfigError("HttpServerOptions", "max_connections", "must be > 0");
  if (options_.max_header_bytes < 256 || options_.max_header_bytes > (std::size_t{1} << 24))
    throw ConfigError("HttpServerOptions", "max_header_bytes", "must be in [256, 16 MiB]");
  if (options_.max_body_bytes > (std::size_t{1} << 24))
    throw ConfigError("HttpServerOptions", "max_body_bytes", "must be <= 16 MiB");
  if (options_.request_timeout_ms.count() <= 0)
    throw ConfigError("HttpServerOptions", "request_timeout_ms", "must be > 0");
  const tcp::endpoint endpoint = parse_listen(options_.listen);
  beast::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw SluiceError("http: cannot listen on " + options_.listen + ": " + ec.message());
  const tcp::endpoint bound = acceptor_.local_endpoint();
  port_ = bound.port();
  const std::string host = bound.address().is_v6() ? "[" + bound.address().to_string() + "]" : bound.address().to_string();
  url_ = "http://" + host + ":" + std::to_string(port_);
  accept();
  thread_ = std::thread([this] { run(); });
}

HttpServerImpl::~HttpServerImpl() {
  ioc_.stop();
  thread_.join();
  // Pending handlers (and the sessions they hold) are destroyed with ioc_.
}

void HttpServerImpl::run() {
  // A failure in one handler must not end the server, let alone a query.
  for (;;) {
    try {
      ioc_.run();
      return;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "sluice: http: %s\n", e.what());
    } catch (...) {
      std::fprintf(stderr, "sluice: http: unknown exception\n");
    }
  }
}

void HttpServerImpl::accept() {
  acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      on_accept(std::move(socket));
      accept();
      return;
    }
    // Out of file descriptors or the like: retry shortly instead of spinning.
    retry_.expires_after(std::chrono::milliseconds(100));
    retry_.async_wait([this](beast::error_code e) {
      if (!e) accept();
    });
  });
}

void HttpServerImpl::on_accept(tcp::socket socket) {
  if (active_.load() >= options_.max_connections) {
    // Best effort, never blocking the server thread: the answer fits in the
    // socket's send buffer; a client that does not read it loses nothing.
    static constexpr std::string_view kBusy =
        "HTTP/1.1 503 Service Unavailable\r\nServer: sluice\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Length: 26\r\nConnection: close\r\nRetry-After: 1\r\n\r\ntoo many open connections\n";
    static_assert(std::string_view("too many open connections\n").size() == 26);
    beast::error_code ignored;
    socket.non_blocking(true, ignored);
    socket.write_some(asio::buffer(kBusy.data(), kBusy.size()), ignored);
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
    return;
  }
  active_.fetch_add(1);
  std::make_shared<Session>(std::move(socket), *this)->start();
}

Response HttpServerImpl::respond(const bhttp::request<bhttp::string_body>& req) {
  const unsigned version = req.version();
  std::string_view target(req.target().data(), req.target().size());
  if (target.empty() || target.front() != '/') return error_response(bhttp::status::bad_request, version, "bad request target");
  if (const auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);

  enum class Route { kDashboard, kMetrics, kQueries, kQuery, kNone } route = Route::kNone;
  std::string query_name;
  constexpr std::string_view kQueryPrefix = "/api/queries/";
  if (target == "/" || target == "/index.html") {
    route = Route::kDashboard;
  } else if (target == "/metrics") {
    route = Route::kMetrics;
  } else if (target == "/api/queries" || target == "/api/queries/") {
    route = Route::kQueries;
  } else if (target.substr(0, kQueryPrefix.size()) == kQueryPrefix) {
    std::optional<std::string> name = percent_decode(target.substr(kQueryPrefix.size()));
    if (!name) return error_response(bhttp::status::bad_request, version, "bad percent-encoding in the query name");
    route = Route::kQuery;
    query_name = std::move(*name);
  }
  if (route == Route::kNone) return error_response(bhttp::status::not_found, version, "not found");
  if (req.method() != bhttp::verb::get) {
    Response res = error_response(bhttp::status::method_not_allowed, version, "method not allowed: use GET");
    res.set(bhttp::field::allow, "GET");
    return res;
  }
  try {
    switch (route) {
      case Route::kDashboard:
        return make_response(bhttp::status::ok, version, std::string(dashboard_html()), "text/html; charset=utf-8");
      case Route::kMetrics:
        return make_response(bhttp::status::ok, version, prometheus_text(engine_), kPrometheusContentType);
      case Route::kQueries:
        return make_response(bhttp::status::ok, version, queries_json(engine_), "application/json");
      case Route::kQuery: {
        std::shared_ptr<Query> q = engine_.get(query_name);
        if (!q) return make_response(bhttp::status::not_found, version, "{\"error\":\"no such query\"}", "application/json");
        return make_response(bhttp::status::ok, version, query_json(*q), "application/json");
      }
      case Route::kNone: break;
    }
  } catch (const std::exception& e) {
    return error_response(bhttp::status::internal_server_error, version, std::string("internal error: ") + e.what());
  }
  return error_response(bhttp::status::not_found, version, "not found");
}

}  // namespace detail

HttpServer::HttpServer(Engine& engine, HttpServerOptions options)
    : impl_(std::make_unique<detail::HttpServerImpl>(engine, std::move(options))) {}
HttpServer::~HttpServer() = default;
std::uint16_t HttpServer::port() const { return impl_->port(); }
std::string HttpServer::url() const { return impl_->url(); }
std::size_t HttpServer::active_connections() const { return impl_->active_connections(); }

}  // namespace sluice
