// One identity per tab: a tab holds a claim on the identity it connects as, so another
// tab of this browser does not take the same one (two stations of one identity replace
// each other at the CSMS forever).  Web Locks hold the claim while the page lives and
// free it when the page goes (closed, reloaded, crashed); where the page has no Web
// Locks (plain http from another host), the tabs ask each other on a BroadcastChannel.
// The Python app calls window.consoleIdentity.claim(name) and .release(name).

const PREFIX = "browser-ocpp.console.identity:";
const ASK_MS = 400; // a bound on waiting for the other tabs' answer (BroadcastChannel)
const held = new Map(); // identity -> release()
const channel = "BroadcastChannel" in window ? new BroadcastChannel(PREFIX) : null;

if (channel) {
  channel.onmessage = (event) => {
    const asked = event.data && event.data.ask;
    if (asked && held.has(asked)) channel.postMessage({ taken: asked });
  };
}

function lockClaim(name) {
  return new Promise((resolve) => {
    navigator.locks
      .request(PREFIX + name, { ifAvailable: true }, (lock) => {
        if (!lock) {
          resolve(false);
          return undefined;
        }
        resolve(true);
        return new Promise((release) => held.set(name, release));
      })
      .catch(() => resolve(false));
  });
}

function askClaim(name) {
  if (!channel) {
    held.set(name, () => {});
    return Promise.resolve(true);
  }
  return new Promise((resolve) => {
    const answered = (event) => {
      if (event.data && event.data.taken === name) finish(false);
    };
    const finish = (free) => {
      clearTimeout(timer);
      channel.removeEventListener("message", answered);
      if (free) held.set(name, () => {});
      resolve(free);
    };
    const timer = setTimeout(() => finish(!held.has(name)), ASK_MS);
    channel.addEventListener("message", answered);
    channel.postMessage({ ask: name });
  });
}

window.consoleIdentity = {
  /** Whether this tab now holds `name` (true too if it held it already). */
  async claim(name) {
    if (held.has(name)) return true;
    return navigator.locks ? lockClaim(name) : askClaim(name);
  },
  /** Let another tab have `name`. */
  release(name) {
    const release = held.get(name);
    held.delete(name);
    if (release) release();
  },
};
