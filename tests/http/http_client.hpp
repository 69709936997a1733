// A minimal HTTP/1.1 client for the endpoint tests: sends bytes exactly as
// given (so tests can send malformed requests), reads until the server
// closes the connection, with a timeout, never a sleep.
#pragma once

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace sluice::testing {

struct RawReply {
  std::string data;        ///< everything the server sent
  bool timed_out = false;  ///< the server had not closed the connection within the timeout
};

/// Connects to 127.0.0.1:`port`, writes `request`, reads until the server
/// closes the connection or `timeout` passes.
inline RawReply exchange_raw(std::uint16_t port, const std::string& request,
                             std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  namespace asio = boost::asio;
  asio::io_context ioc;
  asio::ip::tcp::socket socket(ioc);
  socket.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  boost::system::error_code ec;
  if (!request.empty()) asio::write(socket, asio::buffer(request), ec);  // the server may close early (e.g. 431)
  RawReply reply;
  asio::steady_timer timer(ioc, timeout);
  timer.async_wait([&](const boost::system::error_code& e) {
    if (!e) {
      reply.timed_out = true;
      boost::system::error_code ignored;
      socket.close(ignored);
    }
  });
  asio::async_read(socket, asio::dynamic_buffer(reply.data), [&](const boost::system::error_code&, std::size_t) {
    timer.cancel();
  });
  ioc.run();
  return reply;
}

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  ///< names in lower case
  std::string body;
  bool timed_out = false;
};

/// Parses one response (status line, headers, body of Content-Length bytes).
inline HttpReply parse_reply(const RawReply& raw) {
  HttpReply r;
  r.timed_out = raw.timed_out;
  const auto head_end = raw.data.find("\r\n\r\n");
  if (head_end == std::string::npos) return r;
  const std::string head = raw.data.substr(0, head_end);
  std::size_t line_end = head.find("\r\n");
  const std::string status_line = head.substr(0, line_end);
  if (status_line.size() >= 12) r.status = std::stoi(status_line.substr(9, 3));
  while (line_end != std::string::npos) {
    const std::size_t start = line_end + 2;
    line_end = head.find("\r\n", start);
    const std::string line = head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    r.headers[name] = value;
  }
  r.body = raw.data.substr(head_end + 4);
  if (auto it = r.headers.find("content-length"); it != r.headers.end())
    r.body.resize(std::min<std::size_t>(r.body.size(), std::stoul(it->second)));
  return r;
}

/// `method target` with `Connection: close`, parsed.
inline HttpReply http_request(std::uint16_t port, const std::string& method, const std::string& target) {
  return parse_reply(exchange_raw(
      port, method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"));
}
inline HttpReply http_get(std::uint16_t port, const std::string& target) { return http_request(port, "GET", target); }

}  // namespace sluice::testing
