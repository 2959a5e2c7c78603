#!/usr/bin/env python3
"""Real-client scenarios for the IMAP server tests, using Python's imaplib.

Usage: imap_client.py SCENARIO PORT [ARGS...]; prints one JSON object.
Each scenario asserts what a client relies on and reports what it saw, so
the Rust test can check the details.
"""
import imaplib
import json
import re
import socket
import ssl
import sys
import time
import zlib

HOST = "127.0.0.1"


def ok(resp):
    typ, data = resp
    assert typ == "OK", (typ, data)
    return data


def flat(data):
    out = []
    for d in data:
        if isinstance(d, tuple):
            out.append(d[0].decode("utf-8", "replace"))
            out.append(d[1].decode("utf-8", "replace"))
        elif d is not None:
            out.append(d.decode("utf-8", "replace"))
    return out


def basic(port, user, password):
    m = imaplib.IMAP4(HOST, port)
    r = {"caps_before": sorted(m.capabilities)}
    ok(m.login(user, password))
    r["caps_after"] = sorted(m.capabilities)
    ok(m.create("Work"))
    ok(m.create("Work/Projects"))
    ok(m.create('"Entw&APw-rfe"'))
    r["create_again"] = m.create("Work")[0]
    ok(m.subscribe("Work"))
    r["list"] = flat(ok(m.list('""', "*")))
    r["list_percent"] = flat(ok(m.list('""', "%")))
    r["lsub"] = flat(ok(m.lsub('""', "*")))
    msg = b"From: Carol <carol@example.org>\r\nTo: alice@example.test\r\nSubject: Hello IMAP\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <hello@example.org>\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ=\r\n--b1--\r\n"
    typ, data = m.append("INBOX", "(\\Flagged)", imaplib.Time2Internaldate(time.time()), msg)
    assert typ == "OK", data
    r["append"] = flat(data)
    for i in range(3):
        ok(m.append("INBOX", None, None, ("Subject: note %d\r\nFrom: dave@example.org\r\n\r\nbody %d zebra\r\n" % (i, i)).encode()))
    typ, data = m.select("INBOX")
    assert typ == "OK", data
    r["select_exists"] = int(data[0])
    r["uidvalidity"] = m.untagged_responses.get("UIDVALIDITY", [b"0"])[0].decode()
    r["fetch_flags"] = flat(ok(m.fetch("1:*", "(UID FLAGS RFC822.SIZE)")))
    r["fetch_envelope"] = flat(ok(m.fetch("1", "(ENVELOPE BODYSTRUCTURE INTERNALDATE)")))
    r["fetch_body"] = flat(ok(m.fetch("1", "(BODY.PEEK[1] BODY.PEEK[HEADER.FIELDS (SUBJECT)] BINARY.PEEK[2] BODY.PEEK[]<0.10>)")))
    r["fetch_seen"] = flat(ok(m.fetch("2", "(BODY[TEXT])")))
    r["flags_after_body"] = flat(ok(m.fetch("2", "(FLAGS)")))
    r["store"] = flat(ok(m.store("3", "+FLAGS", "(\\Deleted $Important)")))
    r["search_flagged"] = flat(ok(m.search(None, "FLAGGED")))
    r["search_text"] = flat(ok(m.search(None, "BODY", "zebra")))
    r["search_from"] = flat(ok(m.uid("SEARCH", "FROM", "carol")))
    r["search_complex"] = flat(ok(m.search(None, "OR", "SUBJECT", "note", "LARGER", "100000", "NOT", "DELETED")))
    r["copy"] = flat(ok(m.copy("1:2", "Work")))
    r["copy_missing"] = m.copy("1", "Nope")[0]
    r["copy_missing_text"] = flat(m.copy("1", "Nope")[1])
    typ, data = m.uid("MOVE", "4", "Work/Projects")
    assert typ == "OK", data
    r["move"] = flat(m.untagged_responses.pop("COPYUID", []))
    m.untagged_responses.pop("EXPUNGE", None)
    r["expunge"] = flat(ok(m.expunge()))
    r["after_expunge"] = flat(ok(m.fetch("1:*", "(UID)")))
    r["status"] = flat(ok(m.status("Work", "(MESSAGES UIDNEXT UNSEEN SIZE HIGHESTMODSEQ)")))
    r["namespace"] = flat(ok(m.namespace()))
    typ, data = m._simple_command("GETQUOTAROOT", "INBOX")
    r["quotaroot"] = flat(m.untagged_responses.pop("QUOTAROOT", [])) + flat(m.untagged_responses.pop("QUOTA", []))
    typ, data = m._simple_command("MYRIGHTS", "INBOX")
    r["myrights"] = flat(m.untagged_responses.pop("MYRIGHTS", []))
    ok(m.rename("Work/Projects", "Work/Done"))
    r["list_after_rename"] = flat(ok(m.list('"Work"', "*")))
    ok(m.delete('"Entw&APw-rfe"'))
    ok(m.close())
    ok(m.select("Work", readonly=True))
    r["readonly_store"] = m.store("1", "+FLAGS", "\\Seen")[0]
    typ, data = m.uid("SORT", "(REVERSE SUBJECT)", "UTF-8", "ALL")
    r["sort"] = flat(data)
    typ, data = m.uid("THREAD", "ORDEREDSUBJECT", "UTF-8", "ALL")
    r["thread"] = flat(data)
    ok(m.unselect()) if hasattr(m, "unselect") else None
    m.logout()
    print(json.dumps(r))


def cross(port, user, password):
    """Flags set in one session appear in another with MODSEQ rising;
    expunges and new mail too."""
    a = imaplib.IMAP4(HOST, port)
    b = imaplib.IMAP4(HOST, port)
    ok(a.login(user, password))
    ok(b.login(user, password))
    for i in range(3):
        ok(b.append("INBOX", None, None, ("Subject: m%d\r\n\r\nx\r\n" % i).encode()))
    ok(a.enable("CONDSTORE"))
    typ, data = a.select("INBOX")
    a.untagged_responses.pop("EXISTS", None)
    ok(b.select("INBOX"))
    before = flat(ok(a.fetch("1", "(MODSEQ FLAGS)")))[0]
    ok(b.store("1", "+FLAGS", "(\\Flagged)"))
    typ, data = a.noop()
    seen = flat(a.untagged_responses.pop("FETCH", []))
    ok(b.store("2", "+FLAGS", "(\\Deleted)"))
    ok(b.expunge())
    ok(b.append("INBOX", None, None, b"Subject: late\r\n\r\nnew\r\n"))
    a.noop()
    expunged = flat(a.untagged_responses.pop("EXPUNGE", []))
    exists = flat(a.untagged_responses.pop("EXISTS", []))
    after = flat(ok(a.fetch("1:*", "(UID FLAGS)")))
    print(json.dumps({"before": before, "pushed": seen, "expunged": expunged, "exists": exists, "after": after}))
    a.logout()
    b.logout()


def idle(port, user, password):
    """Selects INBOX, enters IDLE, prints IDLING, then waits for EXISTS."""
    m = imaplib.IMAP4(HOST, port)
    ok(m.login(user, password))
    ok(m.select("INBOX"))
    tag = m._new_tag()
    m.send(tag + b" IDLE\r\n")
    cont = m.readline()
    assert cont.startswith(b"+"), cont
    print("IDLING", flush=True)
    m.sock.settimeout(10)
    line = m.readline()
    got = time.time()
    m.send(b"DONE\r\n")
    rest = []
    while True:
        l = m.readline()
        rest.append(l.decode())
        if l.startswith(tag):
            break
    print(json.dumps({"pushed": line.decode(), "at": got, "done": rest}), flush=True)
    m.logout()


def login_fail(port, user, password):
    m = imaplib.IMAP4(HOST, port)
    t0 = time.time()
    results = []
    for u, p in [(user, "wrong"), ("nobody", "wrong")]:
        try:
            m.login(u, p)
            results.append("OK")
        except imaplib.IMAP4.error as e:
            results.append(str(e))
    print(json.dumps({"results": results, "elapsed": time.time() - t0}))


def starttls(port, user, password):
    m = imaplib.IMAP4(HOST, port)
    r = {"caps_plain": sorted(m.capabilities)}
    try:
        m.login(user, password)
        r["plain_login"] = "OK"
    except imaplib.IMAP4.error as e:
        r["plain_login"] = str(e)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ok(m.starttls(ssl_context=ctx))
    r["caps_tls"] = sorted(m.capabilities)
    ok(m.authenticate("PLAIN", lambda _: ("\0%s\0%s" % (user, password)).encode()))
    r["state"] = m.state
    m.logout()
    print(json.dumps(r))


class Compressed(imaplib.IMAP4):
    """imaplib with COMPRESS=DEFLATE (RFC 4978): raw deflate both ways,
    a sync flush after each command, reading straight from the socket
    once compression is on. Counts the bytes on the wire."""

    zin = None

    def compress(self):
        imaplib.Commands.setdefault("COMPRESS", ("AUTH", "SELECTED"))
        typ, data = self._simple_command("COMPRESS", "DEFLATE")
        assert typ == "OK", (typ, data)
        self.zout = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.zin = zlib.decompressobj(-15)
        self.plain = b""
        self.wire_in = 0
        self.plain_in = 0

    def send(self, data):
        if self.zin is not None:
            data = self.zout.compress(data) + self.zout.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise self.abort("socket closed")
        self.wire_in += len(chunk)
        more = self.zin.decompress(chunk)
        self.plain_in += len(more)
        self.plain += more

    def read(self, size):
        if self.zin is None:
            return super().read(size)
        while len(self.plain) < size:
            self._fill()
        out, self.plain = self.plain[:size], self.plain[size:]
        return out

    def readline(self):
        if self.zin is None:
            return super().readline()
        while b"\n" not in self.plain:
            self._fill()
        i = self.plain.index(b"\n") + 1
        out, self.plain = self.plain[:i], self.plain[i:]
        return out


def compressed_session(m, user, password, connect):
    """What a compressing client does: everything over the deflate stream."""
    r = {}
    ok(m.login(user, password))
    r["caps"] = sorted(ok(m.capability())[0].decode().upper().split())
    m.compress()
    typ, data = m._simple_command("COMPRESS", "DEFLATE")
    r["second"] = [typ] + flat(data)
    big = ("Subject: big\r\nFrom: a@example.org\r\n\r\n" + "all work and no play makes a dull message\r\n" * 2000).encode()
    typ, data = m.append("INBOX", "(\\Seen)", None, big)
    assert typ == "OK", data
    r["append"] = flat(data)
    typ, data = m.select("INBOX")
    assert typ == "OK", data
    r["exists"] = int(data[0])
    wire0, plain0 = m.wire_in, m.plain_in
    data = ok(m.fetch("1", "(BODY.PEEK[])"))
    r["fetched_len"] = len(data[0][1])
    r["fetch_plain"] = m.plain_in - plain0
    r["fetch_wire"] = m.wire_in - wire0
    r["fetched_ok"] = data[0][1] == big
    r["search"] = flat(ok(m.search(None, "BODY", "dull")))
    # IDLE through the compressed stream; another (plain) session appends
    # after more than two seconds, so the server has dropped its
    # compressor meanwhile and starts a new one for the push.
    tag = m._new_tag()
    m.send(tag + b" IDLE\r\n")
    cont = m.readline()
    assert cont.startswith(b"+"), cont
    time.sleep(2.5)
    other = connect()
    ok(other.append("INBOX", None, None, b"Subject: during idle\r\n\r\nhi\r\n"))
    other.logout()
    m.sock.settimeout(10)
    r["idle_push"] = m.readline().decode().strip()
    m.send(b"DONE\r\n")
    rest = []
    while True:
        l = m.readline()
        rest.append(l.decode().strip())
        if l.startswith(tag):
            break
    r["idle_done"] = rest
    time.sleep(2.5)
    r["after_quiet"] = flat(ok(m.fetch("2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")))
    r["wire_in"] = m.wire_in
    r["plain_in"] = m.plain_in
    m.logout()
    return r


def compress(port, user, password):
    def connect():
        o = imaplib.IMAP4(HOST, port)
        ok(o.login(user, password))
        return o

    m = Compressed(HOST, port)
    print(json.dumps(compressed_session(m, user, password, connect)))


def compress_tls(port, user, password):
    """STARTTLS first, then COMPRESS inside TLS."""
    m = Compressed(HOST, port)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ok(m.starttls(ssl_context=ctx))

    def connect():
        o = imaplib.IMAP4(HOST, port)
        ok(o.starttls(ssl_context=ctx))
        ok(o.login(user, password))
        return o

    print(json.dumps(compressed_session(m, user, password, connect)))


SCENARIOS = {"basic": basic, "cross": cross, "idle": idle, "login_fail": login_fail, "starttls": starttls, "compress": compress, "compress_tls": compress_tls}

if __name__ == "__main__":
    SCENARIOS[sys.argv[1]](int(sys.argv[2]), *sys.argv[3:])
