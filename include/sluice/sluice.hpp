// Sluice: the public umbrella header. Include this one file to build jobs.
//
//   #include "sluice/sluice.hpp"
//
// Everything in namespace sluice is public API; sluice::detail may change.
#pragma once

#include "streaming/engine.hpp"
#include "streaming/errors.hpp"
#include "streaming/job.hpp"
#include "streaming/changelog.hpp"
#include "streaming/key_groups.hpp"
#include "streaming/metrics.hpp"
#include "streaming/stream.hpp"
#include "streaming/time.hpp"
#include "streaming/assign_timestamps.hpp"
#include "streaming/watermark_operator.hpp"
#include "streaming/watermarks.hpp"

#include "operators/key_by.hpp"
#include "operators/stateless.hpp"
#include "operators/union.hpp"

#include "windows/aggregates.hpp"
#include "windows/assigners.hpp"
#include "windows/count_window_operator.hpp"
#include "windows/count_windows.hpp"
#include "windows/global_window_operator.hpp"
#include "windows/global_windows.hpp"
#include "windows/session_window_operator.hpp"
#include "windows/row_fields.hpp"
#include "windows/session_windows.hpp"
#include "windows/triggers.hpp"
#include "windows/window.hpp"
#include "windows/windowed_stream.hpp"

#include "checkpoint/rocksdb_checkpoints.hpp"

#include "connectors/callback_sink.hpp"
#include "connectors/collect_sink.hpp"
#include "connectors/generator.hpp"
#include "operators/keyed_process.hpp"
#include "connectors/csv_row.hpp"
#include "connectors/file_sink.hpp"
#include "connectors/file_source.hpp"
#include "connectors/json_row.hpp"
#include "streaming/row.hpp"
#include "streaming/schema.hpp"
#include "streaming/value.hpp"
#include "connectors/push_source.hpp"

#include "http/http_server.hpp"
#include "http/prometheus.hpp"
#include "http/query_json.hpp"
