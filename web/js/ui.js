// Small DOM helpers shared by every view. Text always goes in through
// textContent (h() never parses HTML), so nothing a message or a server
// says can become markup in the main document.

/**
 * Builds an element: h("button", {class: "x", onclick: f}, "Text", child).
 * Attributes starting with "on" become listeners; `dataset` and `style`
 * objects are merged (style as {"--depth": 1}); null/false children and
 * attributes are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2), v);
    } else if (k === "dataset") {
      Object.assign(el.dataset, v);
    } else if (k === "style") {
      // Through the CSSOM: the page's CSP forbids style attributes.
      for (const [prop, val] of Object.entries(v)) el.style.setProperty(prop, String(val));
    } else if (k === "class") {
      el.className = v;
    } else if (v === true) {
      el.setAttribute(k, "");
    } else {
      el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** An inline SVG icon from the sprite in index.html. */
export function icon(name, label) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "icon");
  svg.setAttribute("aria-hidden", label ? "false" : "true");
  if (label) svg.setAttribute("aria-label", label);
  const use = document.createElementNS(ns, "use");
  use.setAttribute("href", `#i-${name}`);
  svg.appendChild(use);
  return svg;
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

const sameDay = (a, b) =>
  a.getFullYear() === b.getFullYear() &&
  a.getMonth() === b.getMonth() &&
  a.getDate() === b.getDate();

/** "14:05" today, "Mon 14:05" this week, "3 Mar" this year, else "3 Mar 2023". */
export function shortDate(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const now = new Date();
  if (sameDay(d, now)) {
    return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  }
  const week = 6 * 24 * 3600 * 1000;
  if (now - d < week && now > d) {
    return d.toLocaleDateString(undefined, { weekday: "short" }) + " " +
      d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  }
  const opts = { day: "numeric", month: "short" };
  if (d.getFullYear() !== now.getFullYear()) opts.year = "numeric";
  return d.toLocaleDateString(undefined, opts);
}

/** A full date for the reading pane. */
export function longDate(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString(undefined, {
    weekday: "short", day: "numeric", month: "short", year: "numeric",
    hour: "2-digit", minute: "2-digit",
  });
}

/** 1536 -> "1.5 KB". */
export function size(bytes) {
  if (bytes == null) return "";
  const units = ["B", "KB", "MB", "GB"];
  let n = bytes;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n >= 10 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

/** "Ada Lovelace" or the address when there is no name. */
export function who(addr) {
  if (!addr) return "";
  return addr.name && addr.name.trim() ? addr.name : addr.email || "";
}

/** A list of JMAP EmailAddress objects as text. */
export function addresses(list) {
  return (list || []).map((a) => (a.name ? `${a.name} <${a.email}>` : a.email)).join(", ");
}

/** Parses "Ada <ada@x>, bob@y" into JMAP EmailAddress objects. */
export function parseAddresses(text) {
  const out = [];
  for (const raw of splitAddressList(text)) {
    const part = raw.trim();
    if (!part) continue;
    const m = part.match(/^(.*)<([^<>\s]+@[^<>\s]+)>$/);
    if (m) {
      const name = m[1].trim().replace(/^"(.*)"$/, "$1");
      out.push({ name: name || null, email: m[2].trim() });
    } else {
      out.push({ name: null, email: part });
    }
  }
  return out;
}

function splitAddressList(text) {
  const parts = [];
  let cur = "";
  let quoted = false;
  let angle = false;
  for (const ch of text || "") {
    if (ch === '"') quoted = !quoted;
    if (ch === "<") angle = true;
    if (ch === ">") angle = false;
    if ((ch === "," || ch === ";") && !quoted && !angle) {
      parts.push(cur);
      cur = "";
    } else {
      cur += ch;
    }
  }
  parts.push(cur);
  return parts;
}

/** True when the text looks like one e-mail address. */
export function isEmail(s) {
  return /^[^\s@<>(),;:"]+@[^\s@<>(),;:"]+\.[^\s@<>(),;:"]+$/.test(s || "");
}

/** The initials shown in a sender's avatar. */
export function initials(addr) {
  const s = who(addr).replace(/[^\p{L}\p{N} ]/gu, " ").trim();
  if (!s) return "?";
  const words = s.split(/\s+/);
  const first = words[0][0] || "";
  const last = words.length > 1 ? words[words.length - 1][0] : "";
  return (first + last).toUpperCase();
}

/** A stable hue for a sender's avatar. */
export function hue(text) {
  let n = 0;
  for (const ch of text || "") n = (n * 31 + ch.codePointAt(0)) % 360;
  return n;
}

let toastTimer = null;

/** Shows a short message at the bottom; `action` is {label, run}. */
export function toast(message, action) {
  const el = document.getElementById("toast");
  if (!el) return;
  const children = [h("span", {}, message)];
  if (action) {
    children.push(
      h("button", {
        class: "link", type: "button",
        onclick: () => {
          el.hidden = true;
          action.run();
        },
      }, action.label),
    );
  }
  replace(el, ...children);
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, action ? 8000 : 4000);
}

/** Shows or hides the banner for a problem the whole app has. */
export function banner(message) {
  const el = document.getElementById("banner");
  if (!el) return;
  if (!message) {
    el.hidden = true;
    return;
  }
  replace(el, message);
  el.hidden = false;
}

/** Turns plain text into nodes, with URLs and addresses as safe links. */
export function linkify(text) {
  const out = [];
  const re = /\b(https?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]|mailto:[^\s<>"']+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+)/g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index > last) out.push(document.createTextNode(text.slice(last, m.index)));
    const t = m[0];
    const href = t.includes("://") || t.startsWith("mailto:") ? t : `mailto:${t}`;
    out.push(h("a", { href, target: "_blank", rel: "noopener noreferrer" }, t));
    last = m.index + t.length;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}
