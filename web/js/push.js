// New mail without a reload: the JMAP push stream (RFC 8620 section 7.3,
// an EventSource through the MEM). Each "state" event names the types
// whose state changed; the app refreshes what it shows. The browser
// reconnects by itself after a network error; a stream refused because
// the session ended makes the app check its login.

export class Push {
  constructor(jmap, { onChange, onLost }) {
    this.jmap = jmap;
    this.onChange = onChange;
    this.onLost = onLost;
    this.source = null;
    this.timer = null;
    this.pending = new Set();
    this.failures = 0;
  }

  start() {
    this.stop();
    const url = this.jmap.eventSourceUrl("*", 30);
    const source = new EventSource(url, { withCredentials: true });
    this.source = source;
    source.addEventListener("open", () => {
      this.failures = 0;
      document.body.dataset.push = "open";
    });
    source.addEventListener("state", (ev) => {
      let change;
      try {
        change = JSON.parse(ev.data);
      } catch {
        return;
      }
      const types = change?.changed?.[this.jmap.accountId];
      if (!types) return;
      for (const t of Object.keys(types)) this.pending.add(t);
      // Several changes in a burst become one refresh.
      clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        const changed = new Set(this.pending);
        this.pending.clear();
        this.onChange(changed);
      }, 150);
    });
    source.addEventListener("error", () => {
      document.body.dataset.push = "reconnecting";
      this.failures += 1;
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (an HTTP error such as 401): check why.
        this.onLost?.();
      }
    });
  }

  stop() {
    clearTimeout(this.timer);
    if (this.source) this.source.close();
    this.source = null;
  }
}
