// What has to happen on the page's own thread.  The console's Python runs in a Web
// Worker: the page's events reach it a moment later, when a default action can no
// longer be prevented and a page that is going may already be gone.  So this module
// keeps the keys of the code editors, asks before leaving mid-transaction, and
// writes the form down as the page goes; the Python marks what each of these applies
// to (data-indent, data-submit, data-toggles, data-keep, body[data-transactions]).
// It also applies the Python's batched writes (browser_ocpp/console/ui/elements.py).

// Events the Python listens to, by type: the selectors of the elements it listens at.
// One capturing listener per type on the document hands each event at (or inside) one
// of them to window.consoleEvents(selector, event).
const routes = new Map();

function dispatch(event) {
  const selectors = routes.get(event.type);
  if (!(event.target instanceof Element) || !window.consoleEvents) return;
  for (const selector of selectors) {
    if (event.target.closest(selector)) window.consoleEvents(selector, event);
  }
}

function route(type, selector) {
  if (!routes.has(type)) {
    routes.set(type, new Set());
    document.addEventListener(type, dispatch, true);
  }
  routes.get(type).add(selector);
}

// [[selector, property], ...] as JSON: their values, as JSON (null where none matches).
window.consoleRead = (asked) =>
  JSON.stringify(JSON.parse(asked).map(([selector, name]) => {
    const element = document.querySelector(selector);
    return element === null ? null : element[name];
  }));

function apply(selector, path, value) {
  if (path === "@listen") {
    route(value, selector);
    return;
  }
  const element = document.querySelector(selector);
  if (element === null) return;
  if (path === "@trim") {  // [keep, newest last]: drop the oldest children
    const [keep, newestLast] = value;
    while (element.childElementCount > keep) {
      (newestLast ? element.firstElementChild : element.lastElementChild).remove();
    }
  } else if (path.startsWith("@")) {
    element[path.slice(1)](...value);
  } else {
    const [part, name] = path.split(".");
    if (name === undefined) element[part] = value;
    else if (part === "dataset" || part === "style") element[part][name] = value;
  }
}

// [[selector, property, "dataset.name", "style.name", "@method" (value: its arguments),
// "@trim" or "@listen", value], ...] as JSON, in order.
window.consoleApply = (ops) => {
  for (const [selector, path, value] of JSON.parse(ops)) {
    try {
      apply(selector, path, value);
    } catch (error) {  // one bad write does not take the rest of the batch with it
      console.error("[console] a write to", selector, path, "failed:", error);
    }
  }
};

document.addEventListener("keydown", (event) => {
  const target = event.target;
  if (target instanceof HTMLTextAreaElement && target.dataset.indent) {
    if (event.key === "Tab" && !event.shiftKey) {  // indent, not leave the editor
      event.preventDefault();
      const spaces = " ".repeat(Number(target.dataset.indent) || 2);
      target.setRangeText(spaces, target.selectionStart, target.selectionEnd, "end");
      target.dispatchEvent(new Event("input", { bubbles: true }));
    } else if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && target.dataset.submit) {
      event.preventDefault();
      document.querySelector(target.dataset.submit)?.click();
    }
  } else if (target instanceof HTMLElement && "toggles" in target.dataset) {
    if (event.key === "Enter" || event.key === " ") {  // a row that opens: no scrolling
      event.preventDefault();
      target.click();
    }
  }
});

window.addEventListener("beforeunload", (event) => {
  if (document.body.dataset.transactions === "open") {
    event.preventDefault();
    event.returnValue = "A transaction is running: leaving ends it (PowerLoss)";
  }
});

// The form as the page goes, in this tab's sessionStorage (a reload keeps it, other
// tabs do not see it) under the key the Python names (html[data-keep-key]).
window.addEventListener("pagehide", () => {
  const key = document.documentElement.dataset.keepKey;
  if (!key) return;
  const kept = {};
  for (const element of document.querySelectorAll("[data-keep]")) {
    kept[element.dataset.keep] = element.type === "checkbox" ? element.checked : element.value;
  }
  try {
    sessionStorage.setItem(key, JSON.stringify(kept));
  } catch {
    // storage full or disabled: the settings saved as they changed are what is kept
  }
});
