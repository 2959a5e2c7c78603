// The JMAP client (RFC 8620 core, RFC 8621 mail) the views share. Every
// request goes to the MEM, same origin, with the session cookie and, on
// state-changing requests, the CSRF token in X-Tiermail-CSRF.

export const CORE = "urn:ietf:params:jmap:core";
export const MAIL = "urn:ietf:params:jmap:mail";
export const SUBMISSION = "urn:ietf:params:jmap:submission";

/** A request-level failure: an HTTP status with an RFC 7807 problem. */
export class HttpError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.type = problem?.type || "";
    this.title = problem?.title || `HTTP ${status}`;
  }
}

/** A method-level error (RFC 8620 section 3.6.2). */
export class MethodError extends Error {
  constructor(name, args) {
    super(`${name}: ${args.type}${args.description ? ` (${args.description})` : ""}`);
    this.type = args.type;
    this.args = args;
  }
}

async function problemOf(res) {
  try {
    return await res.json();
  } catch {
    return null;
  }
}

/** Calls the MEM's own endpoints (/auth/...). */
export async function authRequest(path, { method = "GET", body, csrf } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (csrf) headers["X-Tiermail-CSRF"] = csrf;
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
  if (!res.ok) throw new HttpError(res.status, await problemOf(res));
  return res.status === 204 ? null : res.json();
}

function expand(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, k) =>
    k in values ? encodeURIComponent(values[k]) : "");
}

export class Jmap {
  /** `onUnauthenticated` runs when the session has ended. */
  constructor(csrf, { onUnauthenticated, onStoreProblem } = {}) {
    this.csrf = csrf;
    this.session = null;
    this.accountId = null;
    this.onUnauthenticated = onUnauthenticated || (() => {});
    this.onStoreProblem = onStoreProblem || (() => {});
    this.seq = 0;
  }

  async fetchJson(url, init) {
    let res;
    try {
      res = await fetch(url, { credentials: "same-origin", cache: "no-store", ...init });
    } catch (e) {
      this.onStoreProblem("The web server cannot be reached. Check your connection.");
      throw e;
    }
    if (res.status === 401) {
      this.onUnauthenticated();
      throw new HttpError(401, await problemOf(res));
    }
    if (res.status === 502 || res.status === 503 || res.status === 504) {
      const p = await problemOf(res);
      this.onStoreProblem(p?.title ? `${p.title}. ${p.detail || ""}` : `The server answered ${res.status}.`);
      throw new HttpError(res.status, p);
    }
    if (!res.ok) throw new HttpError(res.status, await problemOf(res));
    this.onStoreProblem(null);
    return res.json();
  }

  /** Loads the session object (RFC 8620 section 2). */
  async connect() {
    this.session = await this.fetchJson("/jmap/session", { headers: { Accept: "application/json" } });
    this.accountId = this.session.primaryAccounts?.[MAIL] ||
      Object.keys(this.session.accounts || {})[0];
    return this.session;
  }

  get username() {
    return this.session?.username || "";
  }

  hasCapability(uri) {
    return Boolean(this.session?.capabilities?.[uri]);
  }

  /**
   * Sends method calls in one request: calls are [name, args] pairs (the
   * call id is generated, or given as a third element). `accountId` is
   * filled in. Returns the responses by call id; a method error throws.
   */
  async request(calls, { tolerate = [] } = {}) {
    const methodCalls = calls.map(([name, args, id]) => [
      name,
      { accountId: this.accountId, ...args },
      id || `c${++this.seq}`,
    ]);
    const using = [CORE, MAIL];
    if (calls.some(([n]) => n.startsWith("EmailSubmission") || n.startsWith("Identity"))) {
      using.push(SUBMISSION);
    }
    const body = await this.fetchJson(this.session.apiUrl, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-Tiermail-CSRF": this.csrf,
      },
      body: JSON.stringify({ using, methodCalls }),
    });
    // A call may answer more than once (EmailSubmission/set's implicit
    // Email/set, RFC 8621 section 7.5): the first answer is out[id], and
    // every answer is also out["Name/method id"].
    const out = {};
    for (const [name, args, id] of body.methodResponses) {
      if (name === "error" && !tolerate.includes(args.type)) throw new MethodError(id, args);
      const r = { name, ...args };
      if (!(id in out)) out[id] = r;
      out[`${name} ${id}`] = r;
    }
    return out;
  }

  /** One method call; its response arguments. */
  async call(name, args) {
    const r = await this.request([[name, args, "x"]]);
    return r.x;
  }

  /** Uploads a file (RFC 8620 section 6.1); resolves to {blobId, type, size}. */
  async upload(file) {
    const url = expand(this.session.uploadUrl, { accountId: this.accountId });
    return this.fetchJson(url, {
      method: "POST",
      headers: {
        "Content-Type": file.type || "application/octet-stream",
        Accept: "application/json",
        "X-Tiermail-CSRF": this.csrf,
      },
      body: file,
    });
  }

  /** The download URL of a blob (RFC 8620 section 6.2). */
  downloadUrl(blobId, name, type) {
    return expand(this.session.downloadUrl, {
      accountId: this.accountId,
      blobId,
      name: name || "attachment",
      type: type || "application/octet-stream",
    });
  }

  /** Fetches a blob (for inline images and previews). */
  async blob(blobId, name, type) {
    const res = await fetch(this.downloadUrl(blobId, name, type), {
      credentials: "same-origin",
    });
    if (!res.ok) throw new HttpError(res.status, null);
    return res.blob();
  }

  /** The push URL (RFC 8620 section 7.3). */
  eventSourceUrl(types = "*", ping = 60) {
    return expand(this.session.eventSourceUrl, {
      types,
      closeafter: "no",
      ping: String(ping),
    });
  }
}
