// Writing mail: new, reply, reply all, forward and drafts. A message is
// created as a draft (Email/set, RFC 8621 section 4.6) with its uploaded
// attachments (RFC 8620 section 6.1), then sent with EmailSubmission/set
// (RFC 8621 section 7.5), which moves it from Drafts to Sent on success.

import {
  h, icon, replace, addresses, parseAddresses, isEmail, size, longDate, who, toast,
} from "./ui.js";

function plainText(email) {
  const values = email.bodyValues || {};
  const text = (email.textBody || []).filter((p) => values[p.partId]).map((p) => values[p.partId].value).join("\n\n");
  if (text.trim()) return text;
  const html = (email.htmlBody || []).find((p) => values[p.partId]);
  if (!html) return email.preview || "";
  // An inert document: nothing in it loads or runs.
  const doc = new DOMParser().parseFromString(values[html.partId].value, "text/html");
  for (const br of doc.querySelectorAll("br")) br.replaceWith("\n");
  for (const p of doc.querySelectorAll("p, div, li, tr, h1, h2, h3")) p.append("\n");
  return doc.body.textContent.replace(/\n{3,}/g, "\n\n").trim();
}

function prefixed(subject, prefix) {
  const s = subject || "";
  return new RegExp(`^${prefix}:`, "i").test(s) ? s : `${prefix}: ${s}`;
}

export class Composer {
  constructor(root, jmap, mailboxes, { onSent, onSaved, ensureMailbox }) {
    this.root = root;
    this.jmap = jmap;
    this.mailboxes = mailboxes;
    this.onSent = onSent;
    this.onSaved = onSaved;
    this.ensureMailbox = ensureMailbox;
    this.identities = null;
    this.isOpen = false;
  }

  async loadIdentities() {
    if (!this.identities) {
      const r = await this.jmap.call("Identity/get", { ids: null });
      this.identities = r.list;
    }
    return this.identities;
  }

  /**
   * Opens the composer. `mode` is new, reply, replyAll, forward or draft;
   * `email` is the message replied to, forwarded or edited (full, with
   * bodyValues).
   */
  async open({ mode = "new", email = null } = {}) {
    if (this.isOpen && this.dirty()) await this.saveDraft({ quiet: true }).catch(() => {});
    const identities = await this.loadIdentities();
    const me = identities[0] || { id: null, email: this.jmap.username, name: "" };
    const mine = new Set(identities.map((i) => i.email.toLowerCase()));
    this.draftId = null;
    this.attachments = [];
    this.inReplyTo = null;
    this.references = null;
    this.answering = null;
    let to = "";
    let cc = "";
    let bcc = "";
    let subject = "";
    let body = "";
    if (email && (mode === "reply" || mode === "replyAll")) {
      const replyTo = email.replyTo?.length ? email.replyTo : email.from || [];
      to = addresses(replyTo);
      if (mode === "replyAll") {
        const seen = new Set(replyTo.map((a) => a.email.toLowerCase()));
        const others = [...(email.to || []), ...(email.cc || [])].filter((a) => {
          const k = a.email.toLowerCase();
          if (seen.has(k) || mine.has(k)) return false;
          seen.add(k);
          return true;
        });
        cc = addresses(others);
      }
      subject = prefixed(email.subject, "Re");
      const quoted = plainText(email).replace(/\s+$/, "").split("\n").map((l) => (l ? `> ${l}` : ">")).join("\n");
      body = `\n\nOn ${longDate(email.sentAt || email.receivedAt)}, ${who((email.from || [])[0])} wrote:\n${quoted}\n`;
      this.inReplyTo = email.messageId || null;
      this.references = [...(email.references || []), ...(email.messageId || [])];
      this.answering = email.id;
    } else if (email && mode === "forward") {
      subject = prefixed(email.subject, "Fwd");
      body = [
        "", "", "---------- Forwarded message ----------",
        `From: ${addresses(email.from)}`,
        `Date: ${longDate(email.sentAt || email.receivedAt)}`,
        `Subject: ${email.subject || ""}`,
        `To: ${addresses(email.to)}`,
        email.cc?.length ? `Cc: ${addresses(email.cc)}` : null,
        "", plainText(email), "",
      ].filter((l) => l !== null).join("\n");
      this.attachments = (email.attachments || []).map((a) => ({
        blobId: a.blobId, name: a.name, type: a.type, size: a.size,
      }));
    } else if (email && mode === "draft") {
      this.draftId = email.id;
      to = addresses(email.to);
      cc = addresses(email.cc);
      bcc = addresses(email.bcc);
      subject = email.subject || "";
      body = plainText(email);
      this.attachments = (email.attachments || []).map((a) => ({
        blobId: a.blobId, name: a.name, type: a.type, size: a.size,
      }));
      this.inReplyTo = email.inReplyTo || null;
      this.references = email.references || null;
    }
    this.render({ identities, me, to, cc, bcc, subject, body, mode });
  }

  render({ identities, me, to, cc, bcc, subject, body, mode }) {
    const field = (id, label, value, extra = {}) => h("label", { class: "field" },
      h("span", {}, label),
      h("input", { id, type: "text", value, autocomplete: "off", spellcheck: "false", ...extra }));
    this.fromSelect = h("select", { id: "compose-from", "aria-label": "From" },
      identities.map((i) => h("option", { value: i.id }, i.name ? `${i.name} <${i.email}>` : i.email)));
    const showBcc = Boolean(bcc);
    this.attachList = h("ul", { class: "compose-attachments" });
    this.fileInput = h("input", {
      type: "file", multiple: true, hidden: true, id: "compose-file",
      onchange: (ev) => this.addFiles([...ev.target.files]),
    });
    this.textarea = h("textarea", { id: "compose-body", "aria-label": "Message", spellcheck: "true" });
    this.textarea.value = body;
    this.status = h("span", { class: "muted compose-status", role: "status" });
    this.sendButton = h("button", { class: "button primary", type: "submit", id: "compose-send", title: "Send (Ctrl+Enter)" }, icon("send"), h("span", {}, "Send"));
    const titles = { new: "New message", reply: "Reply", replyAll: "Reply all", forward: "Forward", draft: "Draft" };
    const form = h("form", {
      class: "compose-form",
      onsubmit: (ev) => {
        ev.preventDefault();
        this.send();
      },
      onkeydown: (ev) => {
        if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
          ev.preventDefault();
          this.send();
        } else if (ev.key === "Escape") {
          ev.preventDefault();
          this.close();
        }
      },
      ondragover: (ev) => { ev.preventDefault(); this.root.classList.add("drop"); },
      ondragleave: () => this.root.classList.remove("drop"),
      ondrop: (ev) => {
        ev.preventDefault();
        this.root.classList.remove("drop");
        this.addFiles([...ev.dataTransfer.files]);
      },
    },
      h("header", { class: "compose-head" },
        h("h2", {}, titles[mode] || "New message"),
        h("button", { class: "icon-button", type: "button", title: "Close (saves a draft)", id: "compose-close", onclick: () => this.close() }, icon("x")),
      ),
      identities.length > 1 ? h("label", { class: "field" }, h("span", {}, "From"), this.fromSelect) : null,
      field("compose-to", "To", to, { placeholder: "name@example.test" }),
      field("compose-cc", "Cc", cc),
      h("div", { class: `bcc-row${showBcc ? "" : " collapsed"}` },
        field("compose-bcc", "Bcc", bcc),
      ),
      field("compose-subject", "Subject", subject),
      this.textarea,
      this.attachList,
      h("footer", { class: "compose-foot" },
        this.sendButton,
        h("button", { class: "icon-button", type: "button", title: "Attach files", id: "compose-attach", onclick: () => this.fileInput.click() }, icon("clip")),
        this.fileInput,
        h("button", { class: "button subtle", type: "button", id: "compose-save", onclick: () => this.saveDraft() }, "Save draft"),
        this.status,
        h("span", { class: "spacer" }),
        h("button", { class: "icon-button danger", type: "button", title: "Discard", id: "compose-discard", onclick: () => this.discard() }, icon("trash")),
      ),
    );
    if (!showBcc) {
      const toggle = h("button", { class: "link bcc-toggle", type: "button", onclick: () => {
        form.querySelector(".bcc-row").classList.remove("collapsed");
        toggle.remove();
      } }, "Bcc");
      form.querySelector("#compose-cc").parentElement.appendChild(toggle);
    }
    replace(this.root, form);
    this.renderAttachments();
    this.root.hidden = false;
    this.isOpen = true;
    this.initial = this.snapshot();
    const first = to ? this.textarea : form.querySelector("#compose-to");
    first.focus();
    if (first === this.textarea) this.textarea.setSelectionRange(0, 0);
    void me;
  }

  value(id) {
    return this.root.querySelector(`#${id}`)?.value || "";
  }

  snapshot() {
    return JSON.stringify([
      this.value("compose-to"), this.value("compose-cc"), this.value("compose-bcc"),
      this.value("compose-subject"), this.textarea?.value, this.attachments.map((a) => a.blobId),
    ]);
  }

  dirty() {
    return this.isOpen && this.snapshot() !== this.initial;
  }

  renderAttachments() {
    replace(this.attachList, this.attachments.map((a, i) => h("li", { class: a.blobId ? "" : "uploading" },
      icon("clip"),
      h("span", { class: "att-name" }, a.name || "attachment"),
      h("span", { class: "muted" }, a.blobId ? size(a.size) : "uploading…"),
      h("button", { class: "icon-button", type: "button", title: "Remove", onclick: () => {
        this.attachments.splice(i, 1);
        this.renderAttachments();
      } }, icon("x")))));
  }

  /** Uploads files as they are added (RFC 8620 section 6.1). */
  async addFiles(files) {
    for (const file of files) {
      const entry = { name: file.name, type: file.type || "application/octet-stream", size: file.size, blobId: null };
      this.attachments.push(entry);
      this.renderAttachments();
      try {
        const up = await this.jmap.upload(file);
        entry.blobId = up.blobId;
        entry.type = up.type || entry.type;
        entry.size = up.size ?? entry.size;
      } catch (e) {
        this.attachments.splice(this.attachments.indexOf(entry), 1);
        toast(`${file.name} could not be uploaded: ${e.message}`);
      }
      this.renderAttachments();
    }
  }

  identity() {
    const id = this.fromSelect?.value;
    return this.identities.find((i) => i.id === id) || this.identities[0];
  }

  /** The Email object for Email/set create. */
  async draftObject() {
    const drafts = await this.ensureMailbox("drafts", "Drafts");
    const me = this.identity();
    const email = {
      mailboxIds: { [drafts.id]: true },
      keywords: { $draft: true, $seen: true },
      from: [{ name: me?.name || null, email: me?.email || this.jmap.username }],
      to: parseAddresses(this.value("compose-to")),
      cc: parseAddresses(this.value("compose-cc")),
      bcc: parseAddresses(this.value("compose-bcc")),
      subject: this.value("compose-subject"),
      bodyValues: { body: { value: this.textarea.value } },
      textBody: [{ partId: "body", type: "text/plain" }],
      attachments: this.attachments.filter((a) => a.blobId).map((a) => ({
        blobId: a.blobId, type: a.type, name: a.name, disposition: "attachment",
      })),
    };
    for (const k of ["to", "cc", "bcc"]) if (!email[k].length) delete email[k];
    if (this.inReplyTo?.length) email.inReplyTo = this.inReplyTo;
    if (this.references?.length) email.references = this.references;
    return { email, drafts };
  }

  async saveDraft({ quiet = false } = {}) {
    if (this.attachments.some((a) => !a.blobId)) {
      toast("Wait for the attachments to finish uploading.");
      return false;
    }
    const { email } = await this.draftObject();
    const set = { create: { draft: email } };
    if (this.draftId) set.destroy = [this.draftId];
    const r = await this.jmap.call("Email/set", set);
    if (!r.created?.draft) throw new Error(r.notCreated?.draft?.description || r.notCreated?.draft?.type || "not saved");
    this.draftId = r.created.draft.id;
    this.initial = this.snapshot();
    this.status.textContent = `Draft saved ${new Date().toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })}`;
    if (!quiet) toast("Draft saved");
    this.onSaved?.();
    return true;
  }

  async send() {
    const rcpts = ["compose-to", "compose-cc", "compose-bcc"].flatMap((id) => parseAddresses(this.value(id)));
    const bad = rcpts.find((a) => !isEmail(a.email));
    if (!rcpts.length) {
      toast("Add at least one recipient.");
      this.root.querySelector("#compose-to").focus();
      return;
    }
    if (bad) {
      toast(`"${bad.email}" is not an email address.`);
      return;
    }
    if (this.attachments.some((a) => !a.blobId)) {
      toast("Wait for the attachments to finish uploading.");
      return;
    }
    this.sendButton.disabled = true;
    this.status.textContent = "Sending…";
    try {
      const { email, drafts } = await this.draftObject();
      const sent = await this.ensureMailbox("sent", "Sent");
      const set = { create: { draft: email } };
      if (this.draftId) set.destroy = [this.draftId];
      if (this.answering) set.update = { [this.answering]: { "keywords/$answered": true } };
      const me = this.identity();
      const r = await this.jmap.request([
        ["Email/set", set, "e"],
        ["EmailSubmission/set", {
          create: { send: { identityId: me.id, emailId: "#draft" } },
          onSuccessUpdateEmail: {
            "#send": {
              [`mailboxIds/${drafts.id}`]: null,
              [`mailboxIds/${sent.id}`]: true,
              "keywords/$draft": null,
            },
          },
        }, "s"],
      ]);
      if (!r.e.created?.draft) {
        throw new Error(r.e.notCreated?.draft?.description || r.e.notCreated?.draft?.type || "the message was not created");
      }
      if (!r.s.created?.send) {
        this.draftId = r.e.created.draft.id;
        throw new Error(r.s.notCreated?.send?.description || r.s.notCreated?.send?.type || "the message was not sent");
      }
      this.isOpen = false;
      this.root.hidden = true;
      replace(this.root);
      toast("Message sent");
      this.onSent?.();
    } catch (e) {
      this.status.textContent = "";
      toast(`Not sent: ${e.message}`);
    } finally {
      this.sendButton.disabled = false;
    }
  }

  async close() {
    if (this.dirty()) {
      try {
        await this.saveDraft({ quiet: true });
        toast("Draft saved");
      } catch (e) {
        toast(`The draft could not be saved: ${e.message}`);
        return;
      }
    }
    this.isOpen = false;
    this.root.hidden = true;
    replace(this.root);
  }

  async discard() {
    const id = this.draftId;
    this.isOpen = false;
    this.root.hidden = true;
    replace(this.root);
    if (id) {
      await this.jmap.call("Email/set", { destroy: [id] }).catch(() => {});
      this.onSaved?.();
    }
    toast("Message discarded");
  }
}
