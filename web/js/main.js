// Starts the web client: who is logged in (or the login view), then the
// three panes (folders, messages, reading pane), the composer, keyboard
// shortcuts and the push stream, and the actions they share.

import { authRequest, Jmap } from "./jmap.js";
import { showLogin } from "./login.js";
import { Mailboxes } from "./mailboxes.js";
import { MessageList } from "./messages.js";
import { Reader } from "./reader.js";
import { Composer } from "./compose.js";
import { Push } from "./push.js";
import { installShortcuts, showHelp } from "./keys.js";
import { banner, toast, icon, replace } from "./ui.js";

const $ = (id) => document.getElementById(id);

const FULL = [
  "id", "blobId", "threadId", "mailboxIds", "keywords", "from", "to", "cc", "bcc",
  "replyTo", "subject", "sentAt", "receivedAt", "messageId", "inReplyTo", "references",
  "textBody", "htmlBody", "attachments", "bodyValues", "preview",
];

function applyTheme() {
  const saved = localStorage.getItem("tiermail.theme");
  if (saved) document.documentElement.dataset.theme = saved;
  else delete document.documentElement.dataset.theme;
  const dark = saved ? saved === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
  const button = $("theme-button");
  if (button) {
    replace(button, icon(dark ? "sun" : "moon"));
    button.title = dark ? "Light theme" : "Dark theme";
  }
}

function toggleTheme() {
  const dark = document.documentElement.dataset.theme
    ? document.documentElement.dataset.theme === "dark"
    : matchMedia("(prefers-color-scheme: dark)").matches;
  localStorage.setItem("tiermail.theme", dark ? "light" : "dark");
  applyTheme();
}

class WebMail {
  constructor(who) {
    this.who = who;
  }

  async start() {
    const jmap = new Jmap(this.who.csrfToken, {
      onUnauthenticated: () => this.sessionEnded(),
      onStoreProblem: (m) => banner(m),
    });
    this.jmap = jmap;
    await jmap.connect();
    $("user-name").textContent = this.who.username;
    $("login-view").hidden = true;
    $("app-view").hidden = false;

    this.mailboxes = new Mailboxes($("folders"), jmap, {
      onSelect: (m) => this.openMailbox(m),
      onCompose: () => this.compose(),
    });
    this.list = new MessageList($("list"), jmap, this.mailboxes, {
      onOpen: (e) => this.read(e),
      onOpenDraft: (e) => this.editDraft(e),
      onEmpty: () => this.reader.clear(),
    });
    this.reader = new Reader($("reader"), jmap, this.mailboxes, {
      reply: (e, all) => this.reply(e, all),
      forward: (e) => this.forward(e),
      toggleFlag: (e) => this.toggleFlag(e),
      move: (e, to) => this.move(e, to),
      remove: (e) => this.remove(e),
      markSeen: (e, seen) => this.markSeen(e, seen),
      back: () => $("panes").classList.remove("show-reader"),
    });
    this.composer = new Composer($("compose"), jmap, this.mailboxes, {
      onSent: () => this.refresh(),
      onSaved: () => this.refresh(),
      ensureMailbox: (role, name) => this.ensureMailbox(role, name),
    });
    $("list").addEventListener("flag", (ev) => this.toggleFlag(ev.detail.email));

    await this.mailboxes.load();
    await this.ensureStandardMailboxes();
    const fromHash = decodeURIComponent((location.hash.match(/^#mailbox\/(.+)$/) || [])[1] || "");
    if (fromHash && this.mailboxes.byId.has(fromHash)) this.mailboxes.selectedId = fromHash;
    this.mailboxes.render();
    await this.list.showMailbox(this.mailboxes.selectedId);

    this.push = new Push(jmap, {
      onChange: (types) => this.changed(types),
      onLost: () => this.checkSession(),
    });
    this.push.start();
    this.wire();
    document.body.dataset.ready = "true";
  }

  wire() {
    $("logout-button").onclick = () => this.logout();
    $("theme-button").onclick = toggleTheme;
    $("shortcuts-button").onclick = () => showHelp($("shortcuts"));
    $("brand").onclick = (ev) => {
      ev.preventDefault();
      this.inbox();
    };
    $("menu-button").onclick = () => this.toggleFolders();
    $("scrim").onclick = () => this.toggleFolders(false);
    const input = $("search-input");
    $("search-form").onsubmit = (ev) => {
      ev.preventDefault();
      const q = input.value.trim();
      if (q) this.list.showSearch(q).catch((e) => toast(e.message));
      else this.list.showMailbox(this.mailboxes.selectedId).catch((e) => toast(e.message));
      input.blur();
    };
    input.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape") {
        input.value = "";
        input.blur();
        this.list.showMailbox(this.mailboxes.selectedId).catch((e) => toast(e.message));
      }
    });
    installShortcuts({
      composing: () => this.composer.isOpen,
      escape: () => {
        if (!$("shortcuts").hidden) $("shortcuts").hidden = true;
        else if (this.composer.isOpen) this.composer.close();
        else $("panes").classList.remove("show-reader");
      },
      next: () => this.list.step(1),
      prev: () => this.list.step(-1),
      openCurrent: () => {
        const e = this.list.find(this.list.currentId) || this.list.visible()[0];
        if (e) this.list.open(e);
      },
      reply: (all) => this.reader.email && this.reply(this.reader.email, all),
      forward: () => this.reader.email && this.forward(this.reader.email),
      compose: () => this.compose(),
      remove: () => this.reader.email && this.remove(this.reader.email),
      flag: () => this.reader.email && this.toggleFlag(this.reader.email),
      unread: () => this.reader.email && this.markSeen(this.reader.email, false),
      search: () => $("search-input").focus(),
      inbox: () => this.inbox(),
      help: () => showHelp($("shortcuts")),
    });
    window.addEventListener("hashchange", () => {
      const id = decodeURIComponent((location.hash.match(/^#mailbox\/(.+)$/) || [])[1] || "");
      if (id && id !== this.mailboxes.selectedId && this.mailboxes.byId.has(id)) this.mailboxes.select(id);
    });
  }

  toggleFolders(open) {
    const panes = $("panes");
    const on = open ?? !panes.classList.contains("show-folders");
    panes.classList.toggle("show-folders", on);
    $("scrim").hidden = !on;
  }

  inbox() {
    const inbox = this.mailboxes.byRole("inbox");
    if (inbox) this.mailboxes.select(inbox.id);
  }

  async openMailbox(m) {
    if (!m) return;
    history.replaceState(null, "", `#mailbox/${encodeURIComponent(m.id)}`);
    $("search-input").value = "";
    this.toggleFolders(false);
    $("panes").classList.remove("show-reader");
    this.reader.clear();
    await this.list.showMailbox(m.id).catch((e) => toast(e.message));
  }

  async read(email) {
    $("panes").classList.add("show-reader");
    await this.reader.show(email.id).catch((e) => toast(`The message could not be opened: ${e.message}`));
  }

  async full(email) {
    if (this.reader.email?.id === email.id && this.reader.email.bodyValues) return this.reader.email;
    const r = await this.jmap.call("Email/get", {
      ids: [email.id], properties: FULL, fetchTextBodyValues: true, fetchHTMLBodyValues: true,
    });
    return r.list[0];
  }

  compose() {
    this.composer.open({ mode: "new" }).catch((e) => toast(e.message));
  }

  async reply(email, all) {
    try {
      await this.composer.open({ mode: all ? "replyAll" : "reply", email: await this.full(email) });
    } catch (e) {
      toast(e.message);
    }
  }

  async forward(email) {
    try {
      await this.composer.open({ mode: "forward", email: await this.full(email) });
    } catch (e) {
      toast(e.message);
    }
  }

  async editDraft(email) {
    try {
      await this.composer.open({ mode: "draft", email: await this.full(email) });
    } catch (e) {
      toast(e.message);
    }
  }

  /** Sets keywords and mailboxes (Email/set update, RFC 8621 section 4.6). */
  async update(email, patch) {
    const r = await this.jmap.call("Email/set", { update: { [email.id]: patch } });
    if (r.notUpdated?.[email.id]) {
      throw new Error(r.notUpdated[email.id].description || r.notUpdated[email.id].type);
    }
  }

  async toggleFlag(email) {
    const on = !email.keywords?.$flagged;
    try {
      await this.update(email, { "keywords/$flagged": on ? true : null });
      const keywords = { ...(email.keywords || {}) };
      if (on) keywords.$flagged = true;
      else delete keywords.$flagged;
      this.list.patch(email.id, { keywords });
      if (this.reader.email?.id === email.id) this.reader.update({ keywords });
    } catch (e) {
      toast(`Not changed: ${e.message}`);
    }
  }

  async markSeen(email, seen) {
    try {
      await this.update(email, { "keywords/$seen": seen ? true : null });
      const keywords = { ...(email.keywords || {}) };
      if (seen) keywords.$seen = true;
      else delete keywords.$seen;
      this.list.patch(email.id, { keywords });
      if (this.reader.email?.id === email.id) this.reader.update({ keywords });
      await this.mailboxes.load();
    } catch (e) {
      toast(`Not changed: ${e.message}`);
    }
  }

  async move(email, to) {
    const before = { ...(email.mailboxIds || {}) };
    const target = this.mailboxes.byId.get(to);
    try {
      await this.update(email, { mailboxIds: { [to]: true } });
      this.list.remove([email.id]);
      await this.mailboxes.load();
      toast(`Moved to ${target?.name || "folder"}`, {
        label: "Undo",
        run: () => this.update(email, { mailboxIds: before }).then(() => this.refresh()),
      });
    } catch (e) {
      toast(`Not moved: ${e.message}`);
    }
  }

  async remove(email) {
    const trash = this.mailboxes.byRole("trash");
    const inTrash = trash && email.mailboxIds?.[trash.id];
    if (trash && !inTrash) {
      await this.move(email, trash.id);
      return;
    }
    try {
      const r = await this.jmap.call("Email/set", { destroy: [email.id] });
      if (r.notDestroyed?.[email.id]) throw new Error(r.notDestroyed[email.id].type);
      this.list.remove([email.id]);
      await this.mailboxes.load();
      toast("Deleted for good");
    } catch (e) {
      toast(`Not deleted: ${e.message}`);
    }
  }

  /** Drafts, Sent, Archive and Trash, created once when a store has none. */
  async ensureStandardMailboxes() {
    const wanted = [["drafts", "Drafts"], ["sent", "Sent"], ["archive", "Archive"], ["trash", "Trash"]];
    const missing = wanted.filter(([role, name]) =>
      !this.mailboxes.byRole(role) && !this.mailboxes.list.some((m) => m.name === name && !m.parentId));
    if (!missing.length) return;
    const create = Object.fromEntries(missing.map(([role, name]) => [role, { name, role, parentId: null }]));
    await this.jmap.call("Mailbox/set", { create }).catch(() => null);
    await this.mailboxes.load();
  }

  async ensureMailbox(role, name) {
    const found = this.mailboxes.byRole(role);
    if (found) return found;
    const r = await this.jmap.call("Mailbox/set", { create: { m: { name, role, parentId: null } } });
    if (!r.created?.m) throw new Error(`no ${name} folder`);
    await this.mailboxes.load();
    return this.mailboxes.byRole(role) || { id: r.created.m.id, role, name };
  }

  async refresh() {
    await this.mailboxes.load().catch(() => {});
    await this.list.load().catch(() => {});
  }

  /** The push stream said these types changed. */
  async changed(types) {
    if (!types.has("Email") && !types.has("Mailbox") && !types.has("Thread")) return;
    await this.refresh();
    const open = this.reader.email;
    if (open) {
      const r = await this.jmap.call("Email/get", { ids: [open.id], properties: ["keywords", "mailboxIds"] }).catch(() => null);
      // Another message may have been opened meanwhile.
      if (this.reader.email?.id !== open.id) return;
      const now = r?.list?.[0];
      if (!now) {
        if (r) this.reader.clear();
      } else {
        this.reader.update({ keywords: now.keywords, mailboxIds: now.mailboxIds });
      }
    }
  }

  async checkSession() {
    try {
      await authRequest("/auth/session");
      // Still logged in: the stream broke for another reason; reopen it.
      setTimeout(() => this.push.start(), 3000);
    } catch {
      this.sessionEnded();
    }
  }

  sessionEnded() {
    if (this.ended) return;
    this.ended = true;
    this.push?.stop();
    $("app-view").hidden = true;
    $("compose").hidden = true;
    showLogin($("login-view"), { notice: "Your session has ended. Please sign in again." })
      .then(() => location.reload());
  }

  async logout() {
    this.push?.stop();
    try {
      await authRequest("/auth/logout", { method: "POST", csrf: this.jmap.csrf });
    } catch {
      // The session is gone either way.
    }
    this.ended = true;
    location.hash = "";
    location.reload();
  }
}

async function boot() {
  applyTheme();
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", applyTheme);
  let who;
  try {
    who = await authRequest("/auth/session");
  } catch {
    $("app-view").hidden = true;
    who = await showLogin($("login-view"));
  }
  const app = new WebMail(who);
  window.tiermail = app;
  try {
    await app.start();
  } catch (e) {
    banner(`Your mailbox could not be opened: ${e.message}`);
    $("app-view").hidden = false;
    $("login-view").hidden = true;
  }
}

boot();
