# The web client in headless Chromium through the MEM (tests/webmail.rs
# starts the system and passes its addresses in WEBMAIL_ENV). Selenium
# from Debian's python3-selenium drives Debian's chromium-driver; mail
# comes in over LMTP (smtplib.LMTP) and is checked and changed over IMAP
# (imaplib) on the stores. Prints OK last when everything held; every
# step leaves a screenshot.
import imaplib
import json
import os
import shutil
import smtplib
import socket
import sys
import threading
import time
from email.message import EmailMessage
from email.utils import make_msgid, formatdate

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

ENV = json.loads(os.environ["WEBMAIL_ENV"])
MEM = ENV["mem"]
SHOTS = ENV["screenshots"]
DOMAIN = ENV["domain"]
ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"
WAIT = 30


def step(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def hostport(s):
    h, p = s.rsplit(":", 1)
    return h, int(p)


# ---------------------------------------------------------------- mail


def deliver(store, to, msg):
    host, port = hostport(ENV["stores"][store]["lmtp"])
    with smtplib.LMTP(host, port) as s:
        s.send_message(msg, to_addrs=[to])


def message(frm, to, subject, text, html=None, attachments=(), inline=None, days=0):
    m = EmailMessage()
    m["From"] = frm
    m["To"] = to
    m["Subject"] = subject
    m["Date"] = formatdate(time.time() - days * 86400, localtime=True)
    m["Message-ID"] = make_msgid(domain="example.net")
    m.set_content(text)
    if html:
        m.add_alternative(html, subtype="html")
        if inline:
            cid, data = inline
            m.get_payload()[1].add_related(data, maintype="image", subtype="png", cid=f"<{cid}>")
    for name, data, mime in attachments:
        main, sub = mime.split("/")
        m.add_attachment(data, maintype=main, subtype=sub, filename=name)
    return m


class Imap:
    def __init__(self, store, user):
        host, port = hostport(ENV["stores"][store]["imap"])
        self.c = imaplib.IMAP4(host, port)
        self.c.login(user, user.split("@")[0] + "-pw")

    def uid_of(self, mailbox, subject):
        self.c.select(f'"{mailbox}"')
        typ, data = self.c.uid("SEARCH", None, "SUBJECT", f'"{subject}"')
        assert typ == "OK", data
        uids = data[0].split()
        return uids[-1].decode() if uids else None

    def flags(self, mailbox, subject):
        uid = self.uid_of(mailbox, subject)
        if uid is None:
            return None
        typ, data = self.c.uid("FETCH", uid, "(FLAGS)")
        return data[0].decode() if data and data[0] else ""

    def close(self):
        try:
            self.c.logout()
        except Exception:
            pass


def wait_imap(what, fn, timeout=WAIT):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


# ------------------------------------------------------------- browser


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
              "--window-size=1440,900", "--disable-gpu", "--lang=en-GB",
              "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync"]:
        opts.add_argument(a)
    # The MEM's certificate is the test's own; trust it for this browser.
    opts.set_capability("acceptInsecureCerts", True)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    return webdriver.Chrome(service=Service(driver), options=opts)


def shot(d, name):
    path = os.path.join(SHOTS, f"{name}.png")
    d.save_screenshot(path)
    step(f"screenshot {path}")


def wait(d, what, fn, timeout=WAIT):
    try:
        return WebDriverWait(d, timeout, poll_frequency=0.2).until(lambda _: fn())
    except Exception:
        shot(d, "failure-" + "".join(c if c.isalnum() else "-" for c in what)[:40])
        raise AssertionError(f"timed out waiting for {what}")


def js(d, script, *args):
    return d.execute_script(script, *args)


def js_async(d, body, *args):
    """Runs `body` (which may use await) and returns its value."""
    return d.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"(async (...args) => {{ {body} }})(...[...arguments].slice(0, -1))"
        ".then(done, (e) => done('error: ' + e));", *args)


def login(d, user, password, screenshot=None):
    d.get(MEM + "/")
    wait(d, "the login form", lambda: d.find_element(By.ID, "login-user").is_displayed())
    if screenshot:
        shot(d, screenshot)
    d.find_element(By.ID, "login-user").send_keys(user)
    d.find_element(By.ID, "login-password").send_keys(password)
    d.find_element(By.ID, "login-submit").click()
    wait(d, "the mailbox", lambda: js(d, "return document.body.dataset.ready === 'true'"))
    step(f"{user}: the mailbox is shown")
    wait(d, "the push stream", lambda: js(d, "return document.body.dataset.push === 'open'"))
    step(f"{user}: the push stream is open")


def rows(d):
    return js(d, """return [...document.querySelectorAll('#list .row')].map(r => ({
        id: r.dataset.id, text: r.innerText, unread: r.classList.contains('unread'),
        flagged: !!r.querySelector('.star.on'), current: r.classList.contains('current')}))""")


def row_with(d, subject):
    for r in rows(d):
        if subject in r["text"]:
            return r
    return None


def click_row(d, subject):
    r = wait(d, f"a row '{subject}'", lambda: row_with(d, subject))
    js(d, "document.querySelector(`#list .row[data-id='${arguments[0]}']`).click()", r["id"])
    wait(d, f"'{subject}' in the reader", lambda: subject in (js(d, "return document.getElementById('message-subject')?.textContent") or ""))
    return r


def open_folder(d, role):
    """Clicks a folder by its role (the list re-renders on every push, so
    no element reference is kept)."""
    ok = js(d, "const f = document.querySelector(`#folders .folder[data-role='${arguments[0]}']`); if (f) f.click(); return !!f", role)
    assert ok, f"no {role} folder"


def unread_count(d, role):
    return js(d, """const f = document.querySelector(`#folders .folder[data-role='${arguments[0]}']`);
        if (!f) return null; const c = f.querySelector('.count'); return c ? Number(c.textContent) : 0""", role)


def no_errors(d, who):
    bad = [e for e in d.get_log("browser")
           if e["level"] == "SEVERE" and "/auth/session" not in e["message"]
           and "favicon" not in e["message"]]
    # Content-Security-Policy reports are how blocked attacks show up;
    # anything else is a bug in the client.
    bad = [e for e in bad if "Content Security Policy" not in e["message"]
           and "Refused to" not in e["message"] and "net::ERR" not in e["message"]]
    assert not bad, f"{who}: console errors: {bad}"


# -------------------------------------------------------------- a trap


class Trap:
    """A loopback TCP server that counts every connection: the hostile
    mail points all its fetches here, so any fetch (HTTP, or an HTTPS
    upgrade of it) is seen."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.hits = []
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.settimeout(2)
            try:
                first = c.recv(200)
            except OSError:
                first = b""
            self.hits.append(first[:80])
            try:
                c.sendall(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            except OSError:
                pass
            c.close()


def hostile_html(port):
    u = f"http://127.0.0.1:{port}"
    return f"""<html><head>
<base href="{u}/">
<meta http-equiv="refresh" content="0;url={u}/refresh">
<link rel="stylesheet" href="{u}/style.css">
<link rel="prefetch" href="{u}/prefetch">
<style>@import url({u}/import.css); body {{ background: url({u}/body.png) }}</style>
<script>top.pwned = "head script"</script>
</head><body onload="top.pwned='body onload'">
<p id="hello">A perfectly normal message.</p>
<script>top.pwned = "script"; parent.pwned = "script"</script>
<img src="{u}/remote.png" alt="remote" onerror="top.pwned='img onerror'" onload="top.pwned='img onload'">
<img src="x" onerror="top.pwned='onerror'">
<img srcset="{u}/srcset.png 2x">
<a id="jslink" href="javascript:top.pwned='javascript link'">first link</a>
<a href="data:text/html,<script>top.pwned='data link'</script>">second link</a>
<div style="width: expression(top.pwned='css expression'); background-image: url({u}/style-attr.png)">CSS</div>
<svg xmlns="http://www.w3.org/2000/svg" onload="top.pwned='svg onload'"><script>top.pwned='svg script'</script><image href="{u}/svg.png"/></svg>
<iframe src="{u}/frame"></iframe><iframe srcdoc="<script>top.pwned='srcdoc'</script>"></iframe>
<object data="{u}/object"></object><embed src="{u}/embed">
<form action="{u}/form"><input name="q"><button id="submit">Go</button></form>
<video poster="{u}/poster.png" src="{u}/video.mp4" autoplay></video>
<audio src="{u}/audio.mp3" autoplay></audio>
<details open ontoggle="top.pwned='ontoggle'">details</details>
<math><mtext><table><mglyph><style><img src=x onerror="top.pwned='mxss'"></style></mglyph></table></mtext></math>
<table background="{u}/table.png"><tr><td>cell</td></tr></table>
</body></html>"""


def png(width, height):
    """A small valid PNG: coloured bars, like a chart."""
    import struct
    import zlib
    colours = [(79, 124, 255), (122, 79, 255), (46, 184, 138), (242, 169, 0)]
    rows = []
    for y in range(height):
        row = bytearray(b"\x00")
        for x in range(width):
            bar = x * len(colours) // width
            top = height - (bar + 1) * height // (len(colours) + 1)
            row += bytes(colours[bar]) if y >= top else b"\xff\xff\xff"
        rows.append(bytes(row))

    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"".join(rows)))
            + chunk(b"IEND", b""))


PNG = png(160, 80)


# ---------------------------------------------------------------- test


def main():
    os.makedirs(SHOTS, exist_ok=True)
    trap = Trap()

    step("mail arrives over LMTP")
    deliver("a", ALICE, message(f"Bob Baker <{BOB}>", ALICE, "Lunch on Friday?",
                                "Hi Alice,\n\nShall we have lunch on Friday at noon?\n\nBob", days=1))
    deliver("a", ALICE, message("Ada Lovelace <ada@analytical.example>", ALICE, "Second draft of note G",
                                "Dear Alice,\n\nThe second draft is attached.\n\nAda",
                                html="<p>Dear Alice,</p><p>The <b>second draft</b> is attached, and here is the diagram:</p>"
                                     '<p><img src="cid:diagram@example.net" alt="diagram" id="diagram"></p><p>Ada</p>',
                                inline=("diagram@example.net", PNG),
                                attachments=[("note-g.txt", b"B1 = 1/6\n", "text/plain"),
                                             ("table.png", PNG, "image/png")], days=2))
    for i in range(3):
        deliver("a", ALICE, message(f"Newsletter <news{i}@shop.example>", ALICE, f"Weekly digest {i}",
                                    f"Digest number {i}.", days=3 + i))
    deliver("a", ALICE, message("Mallory <mallory@evil.example>", ALICE, "Invoice attached",
                                "Please see the HTML part.", html=hostile_html(trap.port)))
    imap_a = Imap("a", ALICE)
    wait_imap("six messages in alice's INBOX", lambda: imap_a.uid_of("INBOX", "Invoice attached"))

    alice = browser()
    bob = None
    try:
        step("alice logs in")
        login(alice, ALICE, "alice-pw", screenshot="login")
        js(alice, "window.__noReload = 1")
        assert unread_count(alice, "inbox") == 6, unread_count(alice, "inbox")
        assert row_with(alice, "Lunch on Friday?")["unread"]
        shot(alice, "message-list")

        step("alice reads the LMTP message")
        click_row(alice, "Lunch on Friday?")
        body = js(alice, "return document.getElementById('text-body')?.innerText")
        assert "lunch on Friday at noon" in body, body
        wait(alice, "the unread count to drop", lambda: unread_count(alice, "inbox") == 5)
        wait_imap("\\Seen over IMAP", lambda: "\\Seen" in (imap_a.flags("INBOX", "Lunch on Friday?") or ""))
        shot(alice, "message")

        step("alice replies with an attachment")
        alice.find_element(By.TAG_NAME, "body").send_keys("r")
        wait(alice, "the composer", lambda: alice.find_element(By.ID, "compose-body").is_displayed())
        to = alice.find_element(By.ID, "compose-to").get_attribute("value")
        assert BOB in to, to
        subject = alice.find_element(By.ID, "compose-subject").get_attribute("value")
        assert subject == "Re: Lunch on Friday?", subject
        box = alice.find_element(By.ID, "compose-body")
        box.send_keys(Keys.CONTROL, Keys.HOME)
        box.send_keys("Friday at noon works. The menu is attached.")
        menu = os.path.join(SHOTS, "menu.txt")
        with open(menu, "w") as f:
            f.write("Soup of the day\n")
        alice.find_element(By.ID, "compose-file").send_keys(menu)
        wait(alice, "the upload", lambda: js(alice, "return document.querySelectorAll('.compose-attachments li').length === 1 && !document.querySelector('.compose-attachments li.uploading')"))
        shot(alice, "compose")
        alice.find_element(By.ID, "compose-send").click()
        wait(alice, "the composer to close", lambda: not alice.find_element(By.ID, "compose").is_displayed())
        wait_imap("\\Answered on the original", lambda: "\\Answered" in (imap_a.flags("INBOX", "Lunch on Friday?") or ""))

        step("the reply reaches bob on store B, over IMAP")
        imap_b = Imap("b", BOB)
        wait_imap("the reply in bob's INBOX", lambda: imap_b.uid_of("INBOX", "Re: Lunch on Friday?"), timeout=60)
        uid = imap_b.uid_of("INBOX", "Re: Lunch on Friday?")
        typ, data = imap_b.c.uid("FETCH", uid, "(BODY.PEEK[])")
        raw = data[0][1].decode(errors="replace")
        assert "In-Reply-To:" in raw and "Friday at noon works" in raw and "menu.txt" in raw, raw[:2000]

        step("bob sees it in his web client")
        bob = browser()
        login(bob, BOB, "bob-pw")
        click_row(bob, "Re: Lunch on Friday?")
        text = js(bob, "return document.getElementById('text-body')?.innerText") or ""
        assert "Friday at noon works" in text and "Shall we have lunch" in text, text
        names = js(bob, "return [...document.querySelectorAll('.attachment .att-name')].map(e => e.textContent)")
        assert names == ["menu.txt"], names
        href = js(bob, "return document.querySelector('.attachment').href")
        assert href.startswith(MEM + "/jmap/download/"), href
        got = js_async(bob, "const r = await fetch(args[0]); return [r.status, r.headers.get('content-disposition'), await r.text()];", href)
        assert got[0] == 200 and got[1].startswith("attachment") and got[2] == "Soup of the day\n", got
        shot(bob, "bob-reads-the-reply")

        step("new mail appears in bob's open client through push")
        deliver("b", BOB, message(f"Alice Archer <{ALICE}>", BOB, "Pushed while you looked", "Hello from LMTP."))
        wait(bob, "the pushed message", lambda: row_with(bob, "Pushed while you looked"))

        step("IMAP changes show up in alice's open client through push")
        open_folder(alice, "inbox")
        wait(alice, "the inbox", lambda: row_with(alice, "Weekly digest 0"))
        uid = imap_a.uid_of("INBOX", "Weekly digest 0")
        imap_a.c.uid("STORE", uid, "+FLAGS", "(\\Flagged)")
        wait(alice, "the IMAP flag in the web client", lambda: (row_with(alice, "Weekly digest 0") or {}).get("flagged"))
        uid = imap_a.uid_of("INBOX", "Weekly digest 1")
        typ, _ = imap_a.c.uid("MOVE", uid, "Archive")
        assert typ == "OK", typ
        wait(alice, "the IMAP move in the web client", lambda: row_with(alice, "Weekly digest 1") is None)
        uid = imap_a.uid_of("INBOX", "Weekly digest 2")
        imap_a.c.uid("STORE", uid, "+FLAGS.SILENT", "(\\Deleted)")
        imap_a.c.expunge()
        wait(alice, "the IMAP expunge in the web client", lambda: row_with(alice, "Weekly digest 2") is None)
        assert js(alice, "return window.__noReload") == 1, "the page was reloaded"
        shot(alice, "push-from-imap")

        step("web client changes show up over IMAP")
        click_row(alice, "Weekly digest 0")
        alice.find_element(By.TAG_NAME, "body").send_keys("s")  # unflag
        wait_imap("\\Flagged gone over IMAP", lambda: "\\Flagged" not in (imap_a.flags("INBOX", "Weekly digest 0") or "\\Flagged"))
        alice.find_element(By.TAG_NAME, "body").send_keys("s")  # flag again
        wait_imap("\\Flagged over IMAP", lambda: "\\Flagged" in (imap_a.flags("INBOX", "Weekly digest 0") or ""))
        alice.find_element(By.TAG_NAME, "body").send_keys("u")
        wait_imap("\\Seen gone over IMAP", lambda: "\\Seen" not in (imap_a.flags("INBOX", "Weekly digest 0") or "\\Seen"))
        archive = js(alice, "return [...document.querySelectorAll('#folders .folder')].find(f => f.dataset.role === 'archive').dataset.id")
        Select(alice.find_element(By.ID, "move-select")).select_by_value(archive)
        wait_imap("the move over IMAP", lambda: imap_a.uid_of("Archive", "Weekly digest 0"))
        wait_imap("the move out of INBOX over IMAP", lambda: imap_a.uid_of("INBOX", "Weekly digest 0") is None)
        wait(alice, "the moved row to go", lambda: row_with(alice, "Weekly digest 0") is None)
        click_row(alice, "Lunch on Friday?")
        alice.find_element(By.TAG_NAME, "body").send_keys("#")
        wait(alice, "the deleted row to go", lambda: row_with(alice, "Lunch on Friday?") is None)
        wait_imap("the delete (to Trash) over IMAP", lambda: imap_a.uid_of("Trash", "Lunch on Friday?"))
        wait_imap("the delete out of INBOX over IMAP", lambda: imap_a.uid_of("INBOX", "Lunch on Friday?") is None)

        step("keyboard, search, threads, drafts")
        alice.find_element(By.TAG_NAME, "body").send_keys("/")
        assert js(alice, "return document.activeElement.id") == "search-input"
        alice.find_element(By.ID, "search-input").send_keys("diagram", Keys.ENTER)
        wait(alice, "search results", lambda: row_with(alice, "Second draft of note G") and len(rows(alice)) == 1)
        alice.find_element(By.ID, "search-input").send_keys(Keys.ESCAPE)
        wait(alice, "the inbox again", lambda: len(rows(alice)) > 1)
        alice.find_element(By.TAG_NAME, "body").send_keys("c")
        wait(alice, "a new message", lambda: alice.find_element(By.ID, "compose-to").is_displayed())
        alice.find_element(By.ID, "compose-to").send_keys(BOB)
        alice.find_element(By.ID, "compose-subject").send_keys("Plans for the offsite")
        alice.find_element(By.ID, "compose-body").send_keys("A draft to finish later.")
        alice.find_element(By.ID, "compose-save").click()
        wait_imap("the draft over IMAP", lambda: imap_a.uid_of("Drafts", "Plans for the offsite"))
        assert "\\Draft" in imap_a.flags("Drafts", "Plans for the offsite")
        alice.find_element(By.ID, "compose-close").click()
        open_folder(alice, "drafts")
        click_row_draft = wait(alice, "the draft row", lambda: row_with(alice, "Plans for the offsite"))
        js(alice, "document.querySelector(`#list .row[data-id='${arguments[0]}']`).click()", click_row_draft["id"])
        wait(alice, "the draft in the composer", lambda: alice.find_element(By.ID, "compose-subject").get_attribute("value") == "Plans for the offsite")
        assert "finish later" in alice.find_element(By.ID, "compose-body").get_attribute("value")
        alice.find_element(By.ID, "compose-discard").click()
        wait_imap("the discarded draft gone", lambda: imap_a.uid_of("Drafts", "Plans for the offsite") is None)
        open_folder(alice, "sent")
        wait(alice, "the reply in Sent", lambda: row_with(alice, "Re: Lunch on Friday?"))
        open_folder(alice, "inbox")

        step("inline images and attachment previews")
        click_row(alice, "Second draft of note G")
        wait(alice, "the HTML body", lambda: js(alice, "const f = document.getElementById('body-frame'); return !!(f && f.contentDocument && f.contentDocument.body.innerText.includes('second draft'))"))
        wait(alice, "the inline image", lambda: js(alice, "const i = document.getElementById('body-frame').contentDocument.querySelector('img'); return !!(i && i.complete && i.naturalWidth === 160)"))
        wait(alice, "the image preview as a blob: URL", lambda: js(alice, "const i = document.querySelector('.attachments .thumb img'); return !!(i && i.src.startsWith('blob:') && i.naturalWidth === 160)"))
        names = js(alice, "return [...document.querySelectorAll('.attachment .att-name')].map(e => e.textContent).sort()")
        assert names == ["note-g.txt", "table.png"], names
        shot(alice, "html-message")

        step("hostile HTML: nothing runs, nothing is fetched")
        before = len(trap.hits)
        click_row(alice, "Invoice attached")
        wait(alice, "the hostile body", lambda: js(alice, "const f = document.getElementById('body-frame'); return !!(f && f.contentDocument && f.contentDocument.body.innerText.includes('A perfectly normal message'))"))
        frame_html = js(alice, "return document.getElementById('body-frame').contentDocument.documentElement.outerHTML")
        for bad in ["<script", "onerror", "onload", "javascript:", "data:text", "expression(", "<iframe", "<object", "<embed", "<form", "<svg", "<style>@import", f":{trap.port}"]:
            assert bad not in frame_html, (bad, frame_html)
        # Click what might have been a link, submit what might have been a form.
        js(alice, "const d = document.getElementById('body-frame').contentDocument; for (const a of d.querySelectorAll('a')) a.click();")
        time.sleep(3)  # time for any fetch or script to happen; the trap must stay silent
        assert len(trap.hits) == before, f"the hostile mail fetched: {trap.hits}"
        flags = js(alice, "const w = document.getElementById('body-frame').contentWindow; return [typeof window.pwned, typeof w.pwned, typeof top.pwned]")
        assert flags == ["undefined", "undefined", "undefined"], flags
        assert len(alice.window_handles) == 1, "something opened a window"
        assert js(alice, "return window.__noReload") == 1
        shot(alice, "hostile-html")
        no_errors(alice, "alice")
        if bob:
            no_errors(bob, "bob")
        notice = alice.find_elements(By.ID, "show-images")
        assert notice, "the remote-images notice is shown"
        step("…until the user asks for remote images")
        notice[0].click()
        wait(alice, "a fetch of the remote image", lambda: len(trap.hits) > before, timeout=15)
        flags = js(alice, "const w = document.getElementById('body-frame').contentWindow; return [typeof window.pwned, typeof w.pwned]")
        assert flags == ["undefined", "undefined"], flags
        hits = [h for h in trap.hits[before:]]
        assert all(b"remote.png" in h or not h.startswith(b"GET") for h in hits), hits

        step("dark theme and a phone-sized window")
        alice.find_element(By.ID, "theme-button").click()
        click_row(alice, "Second draft of note G")
        shot(alice, "dark")
        alice.set_window_size(420, 860)
        time.sleep(0.5)
        wide = js(alice, """const W = document.documentElement.clientWidth; const out = [];
            for (const el of document.querySelectorAll('body *')) {
                const r = el.getBoundingClientRect();
                if (r.width > 0 && r.right > W + 1) out.push(`${el.tagName}.${el.className}#${el.id} ${Math.round(r.right)}`);
            }
            return [W, document.documentElement.scrollWidth, out.slice(0, 8)]""")
        assert wide[1] <= wide[0], f"sideways scrolling: {wide}"
        shot(alice, "narrow")
        alice.set_window_size(1440, 900)
        alice.find_element(By.ID, "theme-button").click()

        step("logout ends the session")
        alice.find_element(By.ID, "logout-button").click()
        wait(alice, "the login form", lambda: alice.find_element(By.ID, "login-user").is_displayed())
        st = js_async(alice, "const r = await fetch('/jmap/session'); return r.status;")
        assert st == 401, st

        if ENV.get("docs") and os.environ.get("TIERMAIL_DOCS_SCREENSHOTS") == "1":
            os.makedirs(ENV["docs"], exist_ok=True)
            for name in ["login", "message-list", "message", "compose", "html-message", "hostile-html", "dark", "narrow"]:
                shutil.copy(os.path.join(SHOTS, f"{name}.png"), os.path.join(ENV["docs"], f"{name}.png"))
            step(f"copied the screenshots to {ENV['docs']}")
        imap_a.close()
        imap_b.close()
    finally:
        for d in (alice, bob):
            if d is not None:
                try:
                    for e in d.get_log("browser"):
                        print("console:", e, flush=True)
                except Exception:
                    pass
                d.quit()
    print("OK")


if __name__ == "__main__":
    main()
