"use strict";
// Load generator on the `ws` package: N stations, each with one OCPP 1.6 Heartbeat
// outstanding (a new one is sent as each answer arrives), for S seconds after a
// warm-up. The same generator drives every server in bench/baselines.py.
//
//   node load.js --port P [--host H] [--stations 100] [--seconds 10] [--warmup 1]
//
// Prints "MARK start" and "MARK end" around the measured window, then one line
// "RESULT {json}": calls, seconds, rate (calls/s), p50_ms, p99_ms, bad_responses,
// lost, left_outstanding (or {"error": ...}).
const WebSocket = require("ws");

function options(argv) {
  const result = { host: "127.0.0.1", port: 0, stations: 100, seconds: 10, warmup: 1 };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, "");
    if (!(name in result)) throw new Error(`unknown option ${argv[i]}`);
    result[name] = name === "host" ? argv[i + 1] : Number(argv[i + 1]);
  }
  if (!result.port) throw new Error("--port is required");
  return result;
}

function percentile(sorted, fraction) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))];
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const say = (line) => process.stdout.write(`${line}\n`);

async function main() {
  const opts = options(process.argv.slice(2));
  const state = { running: false, measuring: false, outstanding: 0, bad: 0, lost: 0 };
  let latencies = new Float64Array(1 << 20);
  let count = 0;
  const record = (ms) => {
    if (count === latencies.length) {
      const bigger = new Float64Array(latencies.length * 2);
      bigger.set(latencies);
      latencies = bigger;
    }
    latencies[count++] = ms;
  };

  function open(index) {
    const identity = `CP-${String(index).padStart(5, "0")}`;
    const url = `ws://${opts.host}:${opts.port}/${identity}`;
    const ws = new WebSocket(url, ["ocpp1.6"], { perMessageDeflate: false });
    const call = JSON.stringify([2, `hb-${identity}`, "Heartbeat", {}]);
    const station = { ws, waiting: false, sentAt: 0 };
    station.send = () => {
      station.sentAt = performance.now();
      station.waiting = true;
      state.outstanding += 1;
      ws.send(call);
    };
    ws.on("message", (data, isBinary) => {
      const now = performance.now();
      if (isBinary || data[0] !== 0x5b || data[1] !== 0x33 || data[2] !== 0x2c) state.bad += 1;
      if (!station.waiting) return;
      station.waiting = false;
      state.outstanding -= 1;
      if (state.measuring) record(now - station.sentAt);
      if (state.running) station.send();
    });
    ws.on("close", () => {
      if (state.running) state.lost += 1;
      if (station.waiting) {
        station.waiting = false;
        state.outstanding -= 1;
      }
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${identity}: open timed out`)), 10000);
      ws.once("open", () => {
        clearTimeout(timer);
        if (ws.protocol !== "ocpp1.6") reject(new Error(`subprotocol ${ws.protocol}`));
        else resolve(station);
      });
      ws.once("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  const stations = [];
  try {
    for (let start = 0; start < opts.stations; start += 100) {
      const stop = Math.min(start + 100, opts.stations);
      const batch = [];
      for (let i = start; i < stop; i++) batch.push(open(i));
      stations.push(...(await Promise.all(batch)));
    }
  } catch (error) {
    say(`RESULT ${JSON.stringify({ error: `${stations.length}/${opts.stations} connected; ${error.message}` })}`);
    for (const station of stations) station.ws.terminate();
    process.exit(0);
  }
  state.running = true;
  for (const station of stations) station.send();
  await sleep(opts.warmup * 1000);
  say("MARK start");
  const started = performance.now();
  state.measuring = true;
  await sleep(opts.seconds * 1000);
  state.measuring = false;
  const elapsed = (performance.now() - started) / 1000;
  say("MARK end");
  state.running = false;
  const drainDeadline = performance.now() + 5000;
  while (state.outstanding > 0 && performance.now() < drainDeadline) await sleep(10);
  const leftOutstanding = state.outstanding;
  await Promise.all(
    stations.map(
      (station) =>
        new Promise((resolve) => {
          const timer = setTimeout(() => {
            station.ws.terminate();
            resolve();
          }, 5000);
          station.ws.once("close", () => {
            clearTimeout(timer);
            resolve();
          });
          station.ws.close(1000);
        }),
    ),
  );
  const sorted = latencies.slice(0, count).sort();
  say(
    `RESULT ${JSON.stringify({
      calls: count,
      seconds: elapsed,
      rate: count / elapsed,
      p50_ms: percentile(sorted, 0.5),
      p99_ms: percentile(sorted, 0.99),
      bad_responses: state.bad,
      lost: state.lost,
      left_outstanding: leftOutstanding,
    })}`,
  );
  process.exit(0);
}

main().catch((error) => {
  say(`RESULT ${JSON.stringify({ error: String(error && error.message ? error.message : error) })}`);
  process.exit(1);
});
