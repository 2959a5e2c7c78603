// The folder list: mailboxes in role order (Inbox, Drafts, Sent, ...)
// then by name, nested under their parents, with unread counts.

import { h, icon, replace } from "./ui.js";

const ROLE_ORDER = ["inbox", "drafts", "sent", "archive", "junk", "trash"];
const ROLE_ICON = {
  inbox: "inbox", drafts: "draft", sent: "send", archive: "archive",
  junk: "junk", trash: "trash",
};
const PROPERTIES = [
  "id", "name", "parentId", "role", "sortOrder", "totalEmails", "unreadEmails",
  "totalThreads", "unreadThreads", "myRights",
];

export class Mailboxes {
  constructor(root, jmap, { onSelect, onCompose }) {
    this.root = root;
    this.jmap = jmap;
    this.onSelect = onSelect;
    this.onCompose = onCompose;
    this.list = [];
    this.byId = new Map();
    this.selectedId = null;
  }

  /** The name shown: "INBOX" as people write it. */
  static label(m) {
    return m.role === "inbox" && m.name.toUpperCase() === "INBOX" ? "Inbox" : m.name;
  }

  /** Reloads every mailbox (Mailbox/get, RFC 8621 section 2). */
  async load() {
    const r = await this.jmap.call("Mailbox/get", { ids: null, properties: PROPERTIES });
    this.list = r.list;
    this.byId = new Map(r.list.map((m) => [m.id, m]));
    if (!this.selectedId || !this.byId.has(this.selectedId)) {
      this.selectedId = this.byRole("inbox")?.id || this.sorted()[0]?.id || null;
    }
    this.render();
    return this.list;
  }

  byRole(role) {
    return this.list.find((m) => m.role === role) || null;
  }

  get selected() {
    return this.byId.get(this.selectedId) || null;
  }

  /** Mailboxes in display order, each with its depth. */
  sorted() {
    const rank = (m) => {
      const i = ROLE_ORDER.indexOf(m.role);
      return i < 0 ? ROLE_ORDER.length : i;
    };
    const cmp = (a, b) =>
      rank(a) - rank(b) || (a.sortOrder || 0) - (b.sortOrder || 0) ||
      a.name.localeCompare(b.name);
    const children = new Map();
    for (const m of this.list) {
      const p = m.parentId && this.byId.has(m.parentId) ? m.parentId : null;
      if (!children.has(p)) children.set(p, []);
      children.get(p).push(m);
    }
    const out = [];
    const walk = (parent, depth) => {
      for (const m of (children.get(parent) || []).sort(cmp)) {
        out.push({ ...m, depth });
        walk(m.id, depth + 1);
      }
    };
    walk(null, 0);
    return out;
  }

  select(id) {
    this.selectedId = id;
    this.render();
    this.onSelect(this.byId.get(id));
  }

  render() {
    const items = this.sorted().map((m) => {
      const unread = m.role === "drafts" ? m.totalEmails : m.unreadEmails;
      return h("li", {},
        h("a", {
          href: `#mailbox/${encodeURIComponent(m.id)}`,
          class: `folder${m.id === this.selectedId ? " active" : ""}${unread ? " has-unread" : ""}`,
          dataset: { id: m.id, role: m.role || "" },
          style: m.depth ? { "--depth": m.depth } : null,
          onclick: (ev) => {
            ev.preventDefault();
            this.select(m.id);
          },
        },
          icon(ROLE_ICON[m.role] || "folder"),
          h("span", { class: "folder-name" }, Mailboxes.label(m)),
          unread ? h("span", { class: "count", title: m.role === "drafts" ? "Drafts" : "Unread" }, String(unread)) : null,
        ),
      );
    });
    replace(this.root,
      h("button", { class: "button primary compose-button", type: "button", onclick: () => this.onCompose() },
        icon("pen"), h("span", {}, "Compose")),
      h("ul", { class: "folder-list" }, items),
    );
    const inbox = this.byRole("inbox");
    const n = inbox?.unreadEmails || 0;
    document.title = n ? `(${n}) Tiermail` : "Tiermail";
  }
}
