// Keyboard shortcuts, the ones mail programs share: j/k next and previous,
// Enter/o open, r reply, a reply all, f forward, c compose, # delete,
// s flag, u mark unread, / search, g i inbox, ? help, Esc close.

import { h, replace } from "./ui.js";

export const SHORTCUTS = [
  ["j / k", "Next / previous message"],
  ["Enter / o", "Open the message"],
  ["r", "Reply"],
  ["a", "Reply all"],
  ["f", "Forward"],
  ["c", "Compose"],
  ["#", "Delete"],
  ["s", "Flag or unflag"],
  ["u", "Mark unread"],
  ["/", "Search"],
  ["g then i", "Go to the inbox"],
  ["Esc", "Close"],
  ["Ctrl+Enter", "Send (while writing)"],
  ["?", "This list"],
];

function typing(target) {
  const t = target?.tagName;
  return t === "INPUT" || t === "TEXTAREA" || t === "SELECT" || target?.isContentEditable;
}

/** Installs the shortcuts; `act` maps action names to functions. */
export function installShortcuts(act) {
  let prefix = null;
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "Escape") {
      act.escape();
      return;
    }
    if (typing(ev.target) || act.composing()) return;
    if (prefix === "g") {
      prefix = null;
      if (ev.key === "i") {
        ev.preventDefault();
        act.inbox();
      }
      return;
    }
    const map = {
      j: () => act.next(),
      k: () => act.prev(),
      o: () => act.openCurrent(),
      Enter: () => act.openCurrent(),
      r: () => act.reply(false),
      a: () => act.reply(true),
      f: () => act.forward(),
      c: () => act.compose(),
      "#": () => act.remove(),
      s: () => act.flag(),
      u: () => act.unread(),
      "/": () => act.search(),
      "?": () => act.help(),
      g: () => { prefix = "g"; },
    };
    const run = map[ev.key];
    if (run) {
      ev.preventDefault();
      run();
    }
  });
}

/** Shows the shortcut list in `root`. */
export function showHelp(root) {
  replace(root,
    h("div", { class: "dialog-card" },
      h("header", {}, h("h2", {}, "Keyboard shortcuts"),
        h("button", { class: "link", type: "button", onclick: () => { root.hidden = true; } }, "Close")),
      h("dl", { class: "shortcut-list" },
        SHORTCUTS.map(([k, what]) => [h("dt", {}, h("kbd", {}, k)), h("dd", {}, what)]))));
  root.hidden = false;
  root.addEventListener("click", (ev) => {
    if (ev.target === root) root.hidden = true;
  }, { once: true });
}
