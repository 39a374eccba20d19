"use strict";
// A stand-in for voltlog-io: every logger it makes drops every record, so the
// benchmarked server spends nothing on logging. ocpp-ws-io 2.x imports
// createLogger, consoleTransport and prettyTransport, and calls debug, info,
// warn, error and child on the logger.
function noop() {}
function createLogger() {
  const logger = {
    level: "SILENT",
    trace: noop,
    debug: noop,
    info: noop,
    warn: noop,
    error: noop,
    fatal: noop,
    log: noop,
    child() {
      return logger;
    },
  };
  return logger;
}
function transport(name) {
  return function make() {
    return { name, write: noop };
  };
}
module.exports = {
  createLogger,
  consoleTransport: transport("console"),
  prettyTransport: transport("pretty"),
};
