// The reading pane. Plain text is shown as text nodes; HTML mail (already
// sanitised by the store) is shown only inside a sandboxed frame whose
// own Content-Security-Policy allows no script and no network images
// unless the user asks for them: mail HTML never enters this document.

import {
  h, icon, replace, longDate, who, addresses, initials, hue, size, linkify, toast,
} from "./ui.js";
import { Mailboxes } from "./mailboxes.js";

const READ_PROPERTIES = [
  "id", "blobId", "threadId", "mailboxIds", "keywords", "from", "to", "cc", "bcc",
  "replyTo", "subject", "sentAt", "receivedAt", "messageId", "inReplyTo", "references",
  "textBody", "htmlBody", "attachments", "bodyValues", "hasAttachment", "preview",
];

/** Typography inside the frame (the frame allows inline styles only). */
const FRAME_CSS = `
  html { color-scheme: light; }
  body { margin: 0; padding: 4px 2px 16px; font: 15px/1.55 system-ui, -apple-system,
    "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1d2230;
    background: #fff; overflow-wrap: anywhere; }
  img { max-width: 100%; height: auto; }
  a { color: #2f5fd0; }
  blockquote { margin: 0 0 0 .4em; padding-left: .9em; border-left: 3px solid #d5dbe8; color: #4a5368; }
  pre, code { white-space: pre-wrap; font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: 13px; }
  table { max-width: 100%; }
`;

export class Reader {
  constructor(root, jmap, mailboxes, actions) {
    this.root = root;
    this.jmap = jmap;
    this.mailboxes = mailboxes;
    this.actions = actions;
    this.email = null;
    this.urls = [];
    this.generation = 0;
    this.clear();
  }

  clear() {
    this.email = null;
    this.revoke();
    replace(this.root,
      h("div", { class: "reader-empty" },
        icon("mail"),
        h("p", {}, "Select a message to read it."),
        h("p", { class: "muted" }, "j / k to move, r to reply, c to write."),
      ));
  }

  revoke() {
    for (const u of this.urls) URL.revokeObjectURL(u);
    this.urls = [];
  }

  /** Fetches and shows one message; marks it read. */
  async show(id, { allowRemote = false } = {}) {
    const generation = ++this.generation;
    const args = {
      ids: [id],
      properties: READ_PROPERTIES,
      fetchHTMLBodyValues: true,
      fetchTextBodyValues: true,
      maxBodyValueBytes: 4 * 1024 * 1024,
    };
    if (allowRemote) args.allowRemoteImages = true;
    const r = await this.jmap.call("Email/get", args);
    if (generation !== this.generation) return;
    const email = r.list[0];
    if (!email) {
      this.clear();
      return;
    }
    this.email = email;
    this.render(email, allowRemote);
    if (!email.keywords?.$seen) {
      this.actions.markSeen(email, true);
    }
  }

  /** Refreshes flags after a change elsewhere (push), keeping the body. */
  update(change) {
    if (!this.email) return;
    const { keywords, mailboxIds } = change;
    if (keywords) this.email.keywords = keywords;
    if (mailboxIds) this.email.mailboxIds = mailboxIds;
    const star = this.root.querySelector(".reader-flag");
    if (star) {
      const on = Boolean(this.email.keywords?.$flagged);
      star.classList.toggle("on", on);
      star.setAttribute("aria-pressed", on ? "true" : "false");
    }
  }

  render(email, allowRemote) {
    this.revoke();
    const sender = (email.from || [])[0];
    const flagged = Boolean(email.keywords?.$flagged);
    const blocked = Object.values(email.bodyValues || {}).some((v) => v.blockedRemoteImages);
    const moveTargets = this.mailboxes.sorted().filter((m) => !email.mailboxIds?.[m.id] && m.role !== "drafts");

    const toolbar = h("div", { class: "reader-toolbar" },
      h("button", { class: "icon-button only-narrow", type: "button", title: "Back to the list", onclick: () => this.actions.back() }, icon("left")),
      h("button", { class: "button", type: "button", id: "reply", title: "Reply (r)", onclick: () => this.actions.reply(email, false) }, icon("reply"), h("span", {}, "Reply")),
      h("button", { class: "button", type: "button", id: "reply-all", title: "Reply all (a)", onclick: () => this.actions.reply(email, true) }, icon("reply-all"), h("span", {}, "Reply all")),
      h("button", { class: "button", type: "button", id: "forward", title: "Forward (f)", onclick: () => this.actions.forward(email) }, icon("forward"), h("span", {}, "Forward")),
      h("span", { class: "spacer" }),
      h("label", { class: "move", title: "Move to folder" },
        icon("move"),
        h("select", {
          id: "move-select", "aria-label": "Move to folder",
          onchange: (ev) => {
            const to = ev.target.value;
            ev.target.value = "";
            // Keyboard shortcuts go on working after a move.
            ev.target.blur();
            if (to) this.actions.move(email, to);
          },
        },
          h("option", { value: "" }, "Move…"),
          moveTargets.map((m) => h("option", { value: m.id }, `${"\u00a0\u00a0".repeat(m.depth)}${Mailboxes.label(m)}`)),
        )),
      h("button", { class: "icon-button", type: "button", id: "mark-unread", title: "Mark unread (u)", onclick: () => this.actions.markSeen(email, false) }, icon("mail")),
      h("button", { class: "icon-button danger", type: "button", id: "delete", title: "Delete (#)", onclick: () => this.actions.remove(email) }, icon("trash")),
    );

    const recipients = [
      email.to?.length ? h("div", {}, h("span", { class: "muted" }, "To "), addresses(email.to)) : null,
      email.cc?.length ? h("div", {}, h("span", { class: "muted" }, "Cc "), addresses(email.cc)) : null,
    ];

    const head = h("header", { class: "message-head" },
      h("div", { class: "subject-line" },
        h("h1", { id: "message-subject" }, email.subject || "(no subject)"),
        h("button", {
          class: `star reader-flag${flagged ? " on" : ""}`, type: "button", title: "Flag (s)",
          "aria-pressed": flagged ? "true" : "false",
          onclick: () => this.actions.toggleFlag(email),
        }, icon("star")),
      ),
      h("div", { class: "from-line" },
        h("span", { class: "avatar large", style: { "--hue": hue(sender?.email || "") } }, initials(sender)),
        h("div", { class: "from-text" },
          h("div", {},
            h("strong", {}, who(sender) || "(no sender)"),
            sender?.name ? h("span", { class: "muted" }, ` <${sender.email}>`) : null),
          h("div", { class: "recipients" }, recipients),
        ),
        h("time", { class: "muted", datetime: email.receivedAt }, longDate(email.sentAt || email.receivedAt)),
      ),
    );

    const notice = blocked && !allowRemote
      ? h("div", { class: "remote-notice", id: "remote-notice" },
        icon("image"),
        h("span", {}, "Remote images are hidden to protect your privacy."),
        h("button", {
          class: "link", type: "button", id: "show-images",
          onclick: () => this.show(email.id, { allowRemote: true }).catch((e) => toast(e.message)),
        }, "Show images"))
      : null;

    replace(this.root,
      toolbar,
      h("article", { class: "message" }, head, notice, this.body(email, allowRemote), this.attachmentList(email)),
    );
  }

  body(email, allowRemote) {
    const values = email.bodyValues || {};
    const html = (email.htmlBody || []).find((p) => p.type === "text/html" && values[p.partId]);
    if (html) {
      return this.frame(values[html.partId].value, email, allowRemote);
    }
    const text = (email.textBody || [])
      .filter((p) => values[p.partId])
      .map((p) => values[p.partId].value)
      .join("\n\n");
    return h("div", { class: "text-body", id: "text-body" }, quoteBlocks(text));
  }

  /** The sandboxed frame: no scripts (sandbox + CSP), images per CSP. */
  frame(html, email, allowRemote) {
    const frame = h("iframe", {
      class: "body-frame",
      id: "body-frame",
      title: "Message body",
      sandbox: "allow-same-origin allow-popups allow-popups-to-escape-sandbox",
      referrerpolicy: "no-referrer",
      src: allowRemote ? "/reader-frame.html?images=remote" : "/reader-frame.html",
    });
    frame.addEventListener("load", () => {
      const doc = frame.contentDocument;
      if (!doc) return;
      const parsed = new DOMParser().parseFromString(html, "text/html");
      defuse(parsed);
      this.inlineImages(parsed, email).catch(() => {});
      const style = doc.createElement("style");
      style.textContent = FRAME_CSS;
      doc.head.appendChild(style);
      doc.body.replaceChildren(...[...parsed.body.childNodes].map((n) => doc.importNode(n, true)));
      const fit = () => {
        frame.style.height = `${Math.max(80, doc.documentElement.scrollHeight)}px`;
      };
      fit();
      new ResizeObserver(fit).observe(doc.body);
      for (const img of doc.images) img.addEventListener("load", fit);
    }, { once: true });
    return h("div", { class: "frame-paper" }, frame);
  }

  /** `cid:` images the store left alone become blob: URLs. */
  async inlineImages(doc, email) {
    const byCid = new Map((email.attachments || []).filter((a) => a.cid).map((a) => [a.cid.replace(/^<|>$/g, ""), a]));
    for (const img of doc.querySelectorAll("img[src^='cid:' i]")) {
      const part = byCid.get(img.getAttribute("src").slice(4));
      if (!part) continue;
      const blob = await this.jmap.blob(part.blobId, part.name, part.type);
      const url = URL.createObjectURL(blob);
      this.urls.push(url);
      img.src = url;
    }
  }

  attachmentList(email) {
    const files = (email.attachments || []).filter((a) => a.disposition !== "inline" || !a.cid);
    if (!files.length) return null;
    return h("section", { class: "attachments", "aria-label": "Attachments" },
      h("h3", {}, icon("clip"), `${files.length} attachment${files.length > 1 ? "s" : ""}`),
      h("ul", {}, files.map((a) => {
        const url = this.jmap.downloadUrl(a.blobId, a.name || "attachment", a.type);
        const thumb = h("span", { class: "thumb" }, icon(a.type?.startsWith("image/") ? "image" : "clip"));
        if (a.type?.startsWith("image/") && a.size < 8 * 1024 * 1024) {
          this.jmap.blob(a.blobId, a.name, a.type).then((b) => {
            const u = URL.createObjectURL(b);
            this.urls.push(u);
            replace(thumb, h("img", { src: u, alt: "" }));
          }).catch(() => {});
        }
        return h("li", {},
          h("a", { class: "attachment", href: url, download: a.name || "attachment", title: `Download ${a.name || "attachment"}` },
            thumb,
            h("span", { class: "att-name" }, a.name || "attachment"),
            h("span", { class: "muted att-size" }, size(a.size)),
            icon("download")));
      })));
  }
}

/** Belt and braces: what the store's sanitiser removes, removed again. */
function defuse(doc) {
  for (const el of doc.querySelectorAll("script, iframe, frame, object, embed, form, link, meta, base, svg, math, style")) {
    el.remove();
  }
  for (const el of doc.querySelectorAll("*")) {
    for (const a of [...el.attributes]) {
      const v = a.value.replace(/[\s\u0000-\u001f]/g, "").toLowerCase();
      if (a.name.startsWith("on") || a.name === "style" || v.startsWith("javascript:") || v.startsWith("vbscript:") || v.startsWith("data:text")) {
        el.removeAttribute(a.name);
      }
    }
  }
  for (const a of doc.querySelectorAll("a[href]")) {
    a.setAttribute("target", "_blank");
    a.setAttribute("rel", "noopener noreferrer");
  }
}

/** Plain text with quoted lines ("> ...") grouped into blockquotes. */
function quoteBlocks(text) {
  const out = [];
  let buf = [];
  let quoted = false;
  const flush = () => {
    if (!buf.length) return;
    const content = linkify(buf.map((l) => (quoted ? l.replace(/^>\s?/, "") : l)).join("\n"));
    out.push(quoted ? h("blockquote", {}, content) : h("div", {}, content));
    buf = [];
  };
  for (const line of text.replace(/\r\n/g, "\n").split("\n")) {
    const q = line.startsWith(">");
    if (q !== quoted) {
      flush();
      quoted = q;
    }
    buf.push(line);
  }
  flush();
  return out;
}
