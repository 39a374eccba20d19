// Runs the repository's tests under Pyodide's Python in Node (see harness.py).
//
// node --experimental-wasm-stack-switching boot.mjs PYODIDE_DIR REPO_DIR WHEELS_DIR CONFIG_JSON
//
// Boots the vendored Pyodide with every fetch refused and loads the runtime's
// dependencies of browser-ocpp (not its wheel: the tests run the working tree), mounts
// the tree at /repo and the test wheels at /wheels, then calls
// tests.pyodide.in_pyodide.main with stack switching so WebLoop can block. Python's
// output goes straight to our stdout and stderr; the last stdout line is
// "PYODIDE-SUITE-RESULT {json}".
import { readFileSync, writeSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [pyodideDir, repoDir, wheelsDir, configJson] = process.argv.slice(2);
const fetchAttempts = [];
globalThis.fetch = async (input) => {
  fetchAttempts.push(String(input?.url ?? input));
  throw new Error("network refused by the test harness");
};
const sink = (fd) => ({
  write: (buffer) => {
    writeSync(fd, buffer);
    return buffer.length;
  },
});

let reported = false;
process.on("exit", () => {
  if (!reported) {
    writeSync(2, "\npyodide suite failed: Node's event loop ran dry while Python waited: " +
      "a test awaits something nothing will ever resolve\n");
    process.exitCode = 3;
  }
});

try {
  const started = performance.now();
  const { loadPyodide } = await import(pathToFileURL(`${pyodideDir}/pyodide.mjs`).href);
  const lock = JSON.parse(readFileSync(`${pyodideDir}/pyodide-lock.json`, "utf8"));
  const packages = lock.packages["browser-ocpp"].depends;
  const pyodide = await loadPyodide({
    indexURL: `${pyodideDir}/`,
    packages,
    enableRunUntilComplete: true,
    // Write nothing into the mounted tree; pass output on as it is written.
    env: { PYTHONDONTWRITEBYTECODE: "1", PYTHONUNBUFFERED: "1" },
  });
  const missing = packages.filter((name) => !(name in pyodide.loadedPackages));
  if (missing.length) throw new Error(`packages not loaded: ${missing.join(", ")}`);
  pyodide.setStdout(sink(1));
  pyodide.setStderr(sink(2));
  for (const [mount, root] of [["/repo", repoDir], ["/wheels", wheelsDir]]) {
    pyodide.FS.mkdirTree(mount);
    pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root }, mount);
  }
  const bootSeconds = (performance.now() - started) / 1000;
  pyodide.runPython("import sys; sys.path.insert(0, '/repo')");
  const suite = pyodide.pyimport("tests.pyodide.in_pyodide");
  const result = await suite.main.callPromising(configJson);
  const summary = { boot_seconds: bootSeconds, fetch_attempts: fetchAttempts, python: JSON.parse(result) };
  writeSync(1, `\nPYODIDE-SUITE-RESULT ${JSON.stringify(summary)}\n`);
  reported = true;
  process.exit(0);
} catch (error) {
  writeSync(2, `\npyodide suite failed: ${error?.stack ?? error}\n`);
  reported = true;
  process.exit(2);
}
