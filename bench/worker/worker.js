// Pyodide in a module worker, offline from our runtime: boots, loads browser-ocpp,
// connects a BrowserOCPPClient, then answers {kind, calls, concurrency} with
// round trips/s of the Python client or of a plain-JS loop in this same worker.
import { loadPyodide } from "/pyodide/pyodide.mjs";

const params = new URLSearchParams(location.search);
const csms = params.get("csms");
// "make": take a memory snapshot right after Python starts; "use": start from it.
// (Later is refused: once packages are loaded Pyodide holds JS objects it cannot
// serialize: "Unexpected hiwire entry at index 6".)
const snapshot = params.get("snapshot");
const indexURL = new URL("/pyodide/", location.origin).href;
const stage = (name) => postMessage({stage: name});
const CACHE = "bench-snapshot", KEY = "/bench-snapshot.bin";

async function savedSnapshot() {
  const found = await (await caches.open(CACHE)).match(KEY);
  if (!found) throw new Error("no snapshot saved: load with ?snapshot=make first");
  return new Uint8Array(await found.arrayBuffer());
}

async function saveSnapshot(py) {
  const bytes = py.makeMemorySnapshot();
  await (await caches.open(CACHE)).put(KEY, new Response(bytes));
  stage(`snapshot saved (${(bytes.length / 1048576).toFixed(1)} MiB)`);
}

async function boot() {
  const options = {indexURL};
  if (snapshot === "make") options._makeSnapshot = true;
  if (snapshot === "use") options._loadSnapshot = savedSnapshot();
  const py = await loadPyodide(options);
  stage("runtime");
  if (snapshot === "make") await saveSnapshot(py);
  await py.loadPackage(["browser-ocpp"]);
  stage("packages");
  py.runPython("import browser_ocpp");
  stage("imported");
  py.globals.set("CSMS", csms);
  await py.runPythonAsync(`
from browser_ocpp import BrowserOCPPClient
client = BrowserOCPPClient(identity="WORKER", protocols=["ocpp1.6"], endpoint=CSMS)
await client.connect()
`);
  stage("connected");
  return py;
}

const PY_LOOP = (calls, concurrency) => `
import asyncio, time
client.reconfigure(call_concurrency=${concurrency})
async def worker(n):
    for _ in range(n):
        await client.call("Heartbeat", {})
start = time.perf_counter()
await asyncio.gather(*(worker(${Math.floor(calls / concurrency)}) for _ in range(${concurrency})))
${Math.floor(calls / concurrency) * concurrency} / (time.perf_counter() - start)
`;

async function jsLoop(url, calls, concurrency) {
  const ws = new WebSocket(url, ["ocpp1.6"]);
  await new Promise((ok, fail) => { ws.onopen = ok; ws.onerror = fail; });
  const waiting = new Map();
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    const done = waiting.get(message[1]);
    waiting.delete(message[1]);
    done(message[2]);
  };
  let next = 0;
  const call = () => new Promise((ok) => {
    const id = String(++next);
    waiting.set(id, ok);
    ws.send(JSON.stringify([2, id, "Heartbeat", {}]));
  });
  const perWorker = Math.floor(calls / concurrency);
  const run = async () => { for (let i = 0; i < perWorker; i++) await call(); };
  const start = performance.now();
  await Promise.all(Array.from({length: concurrency}, run));
  const rate = perWorker * concurrency / ((performance.now() - start) / 1000);
  ws.close();
  return rate;
}

const ready = boot().catch((error) => { postMessage({error: String(error.stack || error)}); });
onmessage = async ({data}) => {
  const py = await ready;
  const result = data.kind === "python"
    ? await py.runPythonAsync(PY_LOOP(data.calls, data.concurrency))
    : await jsLoop(csms + "/JS-WORKER", data.calls, data.concurrency);
  postMessage({result});
};
