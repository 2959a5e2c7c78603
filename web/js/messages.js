// The message list: one page of a mailbox or of search results
// (Email/query with collapseThreads, RFC 8621 section 4.4), newest first
// or as chosen, each thread one row that opens up to show its messages.

import { h, icon, replace, shortDate, who, initials, hue, toast } from "./ui.js";
import { Mailboxes } from "./mailboxes.js";

export const PAGE = 50;

const LIST_PROPERTIES = [
  "id", "threadId", "mailboxIds", "keywords", "from", "to", "subject",
  "receivedAt", "preview", "hasAttachment", "size",
];

const SORTS = {
  newest: { label: "Newest first", sort: [{ property: "receivedAt", isAscending: false }] },
  oldest: { label: "Oldest first", sort: [{ property: "receivedAt", isAscending: true }] },
  sender: { label: "Sender", sort: [{ property: "from", isAscending: true }, { property: "receivedAt", isAscending: false }] },
  subject: { label: "Subject", sort: [{ property: "subject", isAscending: true }, { property: "receivedAt", isAscending: false }] },
};

export class MessageList {
  constructor(root, jmap, mailboxes, { onOpen, onOpenDraft, onEmpty }) {
    this.root = root;
    this.jmap = jmap;
    this.mailboxes = mailboxes;
    this.onOpen = onOpen;
    this.onOpenDraft = onOpenDraft;
    this.onEmpty = onEmpty;
    this.mailboxId = null;
    this.search = "";
    this.sortKey = localStorage.getItem("tiermail.sort") || "newest";
    this.position = 0;
    this.total = 0;
    this.rows = []; // {email, threadSize, expanded, children: [email]}
    this.currentId = null;
    this.loading = false;
    this.generation = 0;
  }

  /** Shows a mailbox from its first page. */
  async showMailbox(id) {
    this.mailboxId = id;
    this.search = "";
    this.position = 0;
    this.currentId = null;
    await this.load();
  }

  /** Shows search results for `text` (all mailboxes). */
  async showSearch(text) {
    this.search = text;
    this.position = 0;
    this.currentId = null;
    await this.load();
  }

  filter() {
    if (this.search) {
      return this.mailboxId && this.searchInFolder
        ? { operator: "AND", conditions: [{ inMailbox: this.mailboxId }, { text: this.search }] }
        : { text: this.search };
    }
    return { inMailbox: this.mailboxId };
  }

  /** Email/query + Email/get + Thread/get in one request. */
  async load({ keepPosition = true } = {}) {
    const generation = ++this.generation;
    this.loading = true;
    if (!this.rows.length) this.renderLoading();
    const query = {
      filter: this.filter(),
      sort: SORTS[this.sortKey]?.sort || SORTS.newest.sort,
      collapseThreads: true,
      position: keepPosition ? this.position : 0,
      limit: PAGE,
      calculateTotal: true,
    };
    let r;
    try {
      r = await this.jmap.request([
        ["Email/query", query, "q"],
        ["Email/get", {
          "#ids": { resultOf: "q", name: "Email/query", path: "/ids" },
          properties: LIST_PROPERTIES,
        }, "g"],
        ["Thread/get", {
          "#ids": { resultOf: "g", name: "Email/get", path: "/list/*/threadId" },
        }, "t"],
      ]);
    } catch (e) {
      this.loading = false;
      if (generation === this.generation) this.renderError(e);
      throw e;
    }
    if (generation !== this.generation) return;
    this.loading = false;
    this.total = r.q.total ?? r.g.list.length;
    if (this.total && this.position >= this.total) {
      this.position = Math.max(0, Math.floor((this.total - 1) / PAGE) * PAGE);
      return this.load();
    }
    const threads = new Map((r.t.list || []).map((t) => [t.id, t.emailIds]));
    const byId = new Map(r.g.list.map((e) => [e.id, e]));
    const expanded = new Set(this.rows.filter((x) => x.expanded).map((x) => x.email.threadId));
    this.rows = r.q.ids.filter((id) => byId.has(id)).map((id) => {
      const email = byId.get(id);
      const ids = threads.get(email.threadId) || [id];
      return { email, threadIds: ids, expanded: false, children: [] };
    });
    this.render();
    for (const row of this.rows) {
      if (expanded.has(row.email.threadId) && row.threadIds.length > 1) await this.expand(row, true);
    }
    if (!this.rows.length) this.onEmpty?.();
  }

  /** Opens a thread row to show every message in it. */
  async expand(row, open = !row.expanded) {
    if (!open) {
      row.expanded = false;
      this.render();
      return;
    }
    const r = await this.jmap.call("Email/get", { ids: row.threadIds, properties: LIST_PROPERTIES });
    row.children = r.list.sort((a, b) => (a.receivedAt < b.receivedAt ? -1 : 1));
    row.expanded = true;
    this.render();
  }

  /** Every visible email in order (thread children included). */
  visible() {
    const out = [];
    for (const row of this.rows) {
      out.push(row.email);
      if (row.expanded) {
        for (const c of row.children) if (c.id !== row.email.id) out.push(c);
      }
    }
    return out;
  }

  find(id) {
    return this.visible().find((e) => e.id === id) || null;
  }

  /** Moves the cursor by `delta` rows and opens that message. */
  step(delta) {
    const list = this.visible();
    if (!list.length) return;
    let i = list.findIndex((e) => e.id === this.currentId);
    i = i < 0 ? 0 : Math.min(list.length - 1, Math.max(0, i + delta));
    this.open(list[i]);
  }

  open(email) {
    this.currentId = email.id;
    const inDrafts = email.keywords?.$draft && this.mailboxes.selected?.role === "drafts";
    if (inDrafts) {
      this.onOpenDraft(email);
    } else {
      this.onOpen(email);
    }
    this.render();
    this.root.querySelector(".row.current")?.scrollIntoView({ block: "nearest" });
  }

  /** Updates one email's keywords/mailboxes in place (after Email/set). */
  patch(id, change) {
    for (const e of this.allEmails()) {
      if (e.id === id) Object.assign(e, change);
    }
    this.render();
  }

  /** Removes emails from the view (moved or destroyed) and picks the next. */
  remove(ids) {
    const gone = new Set(ids);
    const list = this.visible();
    const at = list.findIndex((e) => e.id === this.currentId);
    const next = list.slice(at + 1).find((e) => !gone.has(e.id)) ||
      list.slice(0, Math.max(at, 0)).reverse().find((e) => !gone.has(e.id));
    this.rows = this.rows.filter((r) => !gone.has(r.email.id));
    for (const r of this.rows) r.children = r.children.filter((c) => !gone.has(c.id));
    this.total = Math.max(0, this.total - ids.length);
    if (gone.has(this.currentId)) {
      this.currentId = null;
      if (next) this.open(next);
      else this.onEmpty?.();
    }
    this.render();
  }

  allEmails() {
    return this.rows.flatMap((r) => [r.email, ...r.children]);
  }

  title() {
    if (this.search) return `Search: ${this.search}`;
    const m = this.mailboxes.byId.get(this.mailboxId);
    return m ? Mailboxes.label(m) : "Mail";
  }

  renderLoading() {
    replace(this.root, this.header(), h("div", { class: "list-empty" }, h("div", { class: "spinner" })));
  }

  renderError(e) {
    replace(this.root, this.header(),
      h("div", { class: "list-empty" },
        h("p", {}, "The messages could not be loaded."),
        h("p", { class: "muted" }, e.message),
        h("button", { class: "button", type: "button", onclick: () => this.load() }, "Try again")));
  }

  header() {
    const from = this.total ? this.position + 1 : 0;
    const to = Math.min(this.position + PAGE, this.total);
    const sort = h("select", {
      class: "sort", "aria-label": "Sort",
      onchange: (ev) => {
        this.sortKey = ev.target.value;
        localStorage.setItem("tiermail.sort", this.sortKey);
        this.position = 0;
        this.load();
      },
    }, Object.entries(SORTS).map(([k, v]) =>
      h("option", { value: k, selected: k === this.sortKey }, v.label)));
    return h("div", { class: "list-header" },
      h("div", { class: "list-title" },
        h("h2", {}, this.title()),
        h("span", { class: "muted", id: "list-range" }, this.total ? `${from}–${to} of ${this.total}` : ""),
      ),
      h("div", { class: "list-tools" },
        sort,
        h("button", { class: "icon-button", type: "button", title: "Refresh", onclick: () => this.load() }, icon("refresh")),
        h("button", {
          class: "icon-button", type: "button", title: "Newer page", id: "page-prev",
          disabled: this.position === 0,
          onclick: () => { this.position = Math.max(0, this.position - PAGE); this.load(); },
        }, icon("left")),
        h("button", {
          class: "icon-button", type: "button", title: "Older page", id: "page-next",
          disabled: this.position + PAGE >= this.total,
          onclick: () => { this.position += PAGE; this.load(); },
        }, icon("right")),
      ),
    );
  }

  render() {
    const sent = ["sent", "drafts"].includes(this.mailboxes.byId.get(this.mailboxId)?.role) && !this.search;
    const items = [];
    for (const row of this.rows) {
      items.push(this.renderRow(row.email, { row, sent }));
      if (row.expanded) {
        for (const c of row.children) {
          items.push(this.renderRow(c, { child: true, sent }));
        }
      }
    }
    const body = items.length
      ? h("ul", { class: "rows", role: "listbox", "aria-label": this.title() }, items)
      : h("div", { class: "list-empty" },
        icon(this.search ? "search" : "inbox"),
        h("p", {}, this.search ? "No messages match your search." : "No messages here."));
    replace(this.root, this.header(), body);
  }

  renderRow(email, { row, child, sent }) {
    const seen = Boolean(email.keywords?.$seen);
    const flagged = Boolean(email.keywords?.$flagged);
    const person = sent ? (email.to || [])[0] : (email.from || [])[0];
    const name = sent ? `To: ${who(person)}` : who(person);
    const count = row && row.threadIds.length > 1 ? row.threadIds.length : 0;
    const classes = ["row"];
    if (!seen) classes.push("unread");
    if (email.id === this.currentId) classes.push("current");
    if (child) classes.push("child");
    return h("li", {
      class: classes.join(" "),
      role: "option",
      "aria-selected": email.id === this.currentId ? "true" : "false",
      dataset: { id: email.id },
      tabindex: "-1",
      onclick: () => this.open(email),
    },
      child ? h("span", { class: "thread-line" }) :
        h("span", { class: "avatar", style: { "--hue": hue(person?.email || "") } }, initials(person)),
      h("div", { class: "row-main" },
        h("div", { class: "row-top" },
          h("span", { class: "sender" }, name || "(no sender)"),
          count ? h("button", {
            class: `thread-count${row.expanded ? " open" : ""}`, type: "button",
            title: row.expanded ? "Collapse conversation" : "Show conversation",
            onclick: (ev) => { ev.stopPropagation(); this.expand(row).catch((e) => toast(e.message)); },
          }, String(count), icon("down")) : null,
          email.hasAttachment ? icon("clip", "Has attachments") : null,
          h("time", { datetime: email.receivedAt, title: new Date(email.receivedAt).toLocaleString() }, shortDate(email.receivedAt)),
        ),
        h("div", { class: "row-bottom" },
          h("span", { class: "subject" }, email.subject || "(no subject)"),
          h("span", { class: "preview" }, email.preview ? ` — ${email.preview}` : ""),
        ),
      ),
      h("button", {
        class: `star${flagged ? " on" : ""}`, type: "button",
        title: flagged ? "Remove flag (s)" : "Flag (s)",
        "aria-pressed": flagged ? "true" : "false",
        onclick: (ev) => {
          ev.stopPropagation();
          this.root.dispatchEvent(new CustomEvent("flag", { detail: { email } }));
        },
      }, icon("star")),
    );
  }
}
