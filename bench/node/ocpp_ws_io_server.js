"use strict";
// ocpp-ws-io 2.x as a baseline server: OCPP 1.6, strict mode off (its default),
// answering Heartbeat. Its logger is the silent local stand-in for voltlog-io.
//
//   node ocpp_ws_io_server.js [port] [host]
//
// Prints "PORT <port> PID <pid>"; then reads lines on stdin: "RSS" answers
// "RSS <bytes> <connected clients>", "QUIT" (or EOF) closes and prints "BYE".
const fs = require("fs");
const readline = require("readline");
const { OCPPServer } = require("ocpp-ws-io");

const CURRENT_TIME = "2024-01-01T00:00:00Z";

async function main() {
  const port = Number(process.argv[2] || 0);
  const host = process.argv[3] || "127.0.0.1";
  const server = new OCPPServer({ protocols: ["ocpp1.6"] });
  let connected = 0;
  server.on("client", (client) => {
    connected += 1;
    client.on("close", () => {
      connected -= 1;
    });
    client.handle("Heartbeat", () => ({ currentTime: CURRENT_TIME }));
  });
  const http = await server.listen(port, host);
  const address = http && typeof http.address === "function" ? http.address() : null;
  const bound = address && typeof address === "object" ? address.port : port;
  process.stdout.write(`PORT ${bound} PID ${process.pid}\n`);
  let closing = false;
  const quit = async () => {
    if (closing) return;
    closing = true;
    try {
      await Promise.race([server.close({ force: true }), new Promise((r) => setTimeout(r, 10000))]);
    } catch (error) {
      process.stderr.write(`close failed: ${error}\n`);
    }
    process.stdout.write("BYE\n");
    process.exit(0);
  };
  const lines = readline.createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    const command = line.trim();
    if (command === "RSS") {
      if (global.gc) global.gc();
      const pages = Number(fs.readFileSync("/proc/self/statm", "utf8").split(" ")[1]);
      process.stdout.write(`RSS ${pages * 4096} ${connected}\n`);
    } else if (command === "QUIT") {
      quit();
    }
  });
  lines.on("close", quit);
}

main().catch((error) => {
  process.stderr.write(`${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});
