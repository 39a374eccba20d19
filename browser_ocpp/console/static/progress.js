// The loading indicator, shown from the first paint until the Python app is ready.
// PyScript 0.7 dispatches `py:progress` on window with a text detail at each step of
// starting Pyodide ("Loading Pyodide", "Loading interpreter", "Loaded interpreter",
// "Loaded Pyodide"); the page's main.py then reports its own steps (the packages, the
// app) through window.consoleProgress(stage, text, percent).

const root = document.querySelector('[data-testid="progress"]');
const bar = root.querySelector(".progress-bar");
const stageText = root.querySelector(".progress-stage");
const timeText = root.querySelector(".progress-time");
const started = performance.now();

const STEPS = {
  "Loading Pyodide": ["runtime", 6, "Loading the Python runtime…"],
  "Loading Packages Graph": ["runtime", 8, "Loading the Python runtime…"],
  "Loading remote packages": ["runtime", 10, "Loading the Python runtime…"],
  "Loading Storage": ["runtime", 12, "Loading the Python runtime…"],
  "Loading interpreter": ["runtime", 15, "Loading the Python runtime (WebAssembly)…"],
  "Loaded interpreter": ["packages", 55, "Loading packages: browser-ocpp…"],
  "Loading files": ["packages", 57, "Loading packages: the emulator's modules…"],
  "Loading packages": ["packages", 60, "Loading packages: browser-ocpp, jsonschema…"],
  "Loaded Pyodide": ["packages", 58, "Loading packages…"],
};
const CEILING = { runtime: 52, packages: 80, app: 98 };

let shown = 3;
let target = 5;
let stage = "runtime";
let done = false;

function paint() {
  bar.style.width = shown.toFixed(1) + "%";
  const order = ["runtime", "packages", "app"];
  for (const li of root.querySelectorAll("[data-step]")) {
    const i = order.indexOf(li.dataset.step);
    const j = order.indexOf(stage);
    li.dataset.done = String(i < j || (done && stage === "ready"));
    li.dataset.current = String(i === j && !done);
  }
}

function setStage(name, text, percent) {
  if (done) return;
  if (name === "error") {
    fail(text);
    return;
  }
  if (name === "ready") {
    finish();
    return;
  }
  stage = name;
  root.dataset.stage = name;
  if (text) stageText.textContent = text;
  if (typeof percent === "number") target = Math.max(target, percent);
  paint();
}

function finish() {
  done = true;
  stage = "ready";
  root.dataset.stage = "ready";
  root.dataset.state = "ready";
  stageText.textContent = "Ready";
  shown = 100;
  paint();
  clearInterval(ticker);
  const app = document.querySelector('[data-testid="app"]');
  app.removeAttribute("inert");
  app.removeAttribute("aria-busy");
  setTimeout(() => { root.hidden = true; }, 350);
}

function fail(text) {
  done = true;
  root.dataset.state = "error";
  stageText.textContent = "Could not start: " + (text || "unknown error") +
    " — see the browser console for details, then reload.";
  clearInterval(ticker);
}

const ticker = setInterval(() => {
  const elapsed = (performance.now() - started) / 1000;
  timeText.textContent = elapsed.toFixed(1) + " s";
  // Ease toward the current step, and creep (never past the step's ceiling) while
  // a long step such as the runtime download is under way.
  if (shown < target) shown += Math.max(0.4, (target - shown) * 0.25);
  else if (shown < CEILING[stage] - 1) shown += 0.15;
  if (elapsed > 60 && !root.dataset.slow) {
    root.dataset.slow = "true";
    stageText.textContent += " (this is taking longer than usual)";
  }
  paint();
}, 100);

addEventListener("py:progress", (event) => {
  const step = STEPS[event.detail];
  if (step) setStage(step[0], step[2], step[1]);
});
addEventListener("error", (event) => {
  if (!done && event.message) console.debug("[console] page error while loading:", event.message);
});
addEventListener("unhandledrejection", (event) => {
  if (!done) fail(String(event.reason && event.reason.message || event.reason));
});

// PyScript reports Python errors (and anything written to stderr) as a .py-error box.
new MutationObserver((records) => {
  if (done) return;
  for (const record of records) {
    for (const node of record.addedNodes) {
      if (node.classList && node.classList.contains("py-error")) {
        fail((node.textContent || "Python error").trim().split("\n").pop());
        return;
      }
    }
  }
}).observe(document.body, { childList: true });

window.consoleProgress = setStage;
paint();
