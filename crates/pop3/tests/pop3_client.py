#!/usr/bin/env python3
"""Drives the POP3 server with Python's poplib (a real client).

usage: pop3_client.py SCENARIO PORT [ARGS...]; prints one JSON document.
Responses are decoded as latin-1 so that any octet survives into JSON.
"""
import base64
import hashlib
import json
import poplib
import socket
import ssl
import sys
import time


def text(b):
    return b.decode("latin-1") if isinstance(b, bytes) else b


def err(e):
    return text(e.args[0]) if e.args else str(e)


def attempt(f, *args):
    """Runs a poplib call; returns ["ok", response] or ["err", text]."""
    try:
        r = f(*args)
        if isinstance(r, tuple):
            r = r[0]
        return ["ok", text(r)]
    except poplib.error_proto as e:
        return ["err", err(e)]


def capa(p):
    return {k: v for k, v in sorted(p.capa().items())}


def connect(port):
    return poplib.POP3("127.0.0.1", port, timeout=15)


def basic(port, args):
    out = {}
    p = connect(port)
    out["welcome"] = text(p.getwelcome())
    # No timestamp in the greeting: poplib refuses APOP by itself.
    out["apop"] = attempt(p.apop, "alice", "secret")
    out["capa"] = capa(p)
    out["user"] = text(p.user("alice"))
    out["pass"] = text(p.pass_("secret"))
    out["capa_after"] = capa(p)
    out["stat"] = list(p.stat())
    resp, lines, octets = p.list()
    out["list"] = [text(resp), [text(l) for l in lines]]
    out["list_2"] = text(p.list(2))
    resp, lines, octets = p.uidl()
    out["uidl"] = [text(l) for l in lines]
    out["uidl_3"] = text(p.uidl(3))
    retrieved = {}
    for n in (1, 2, 3):
        resp, lines, octets = p.retr(n)
        body = b"\r\n".join(lines) + b"\r\n"
        retrieved[str(n)] = {
            "resp": text(resp),
            "octets": octets,
            "sha256": hashlib.sha256(body).hexdigest(),
            "lines": len(lines),
        }
    out["retr"] = retrieved
    for n in (1, 2):
        resp, lines, octets = p.retr(n)
        out[f"retr_{n}_lines"] = [text(l) for l in lines]
    resp, lines, octets = p.top(1, 0)
    out["top_1_0"] = [text(l) for l in lines]
    resp, lines, octets = p.top(2, 1)
    out["top_2_1"] = [text(l) for l in lines]
    out["noop"] = text(p.noop())
    out["dele_1"] = text(p.dele(1))
    out["dele_1_again"] = attempt(p.dele, 1)
    out["retr_deleted"] = attempt(p.retr, 1)
    out["list_deleted"] = attempt(p.list, 1)
    out["stat_after_dele"] = list(p.stat())
    out["rset"] = text(p.rset())
    out["stat_after_rset"] = list(p.stat())
    out["dele_2"] = text(p.dele(2))
    out["retr_99"] = attempt(p.retr, 99)
    out["quit"] = text(p.quit())
    return out


def stls(port, args):
    cafile = args[0]
    out = {}
    p = connect(port)
    out["capa_plain"] = capa(p)
    out["user_plain"] = attempt(p.user, "alice")
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    out["stls"] = text(p.stls(context=ctx))
    out["tls_version"] = p.sock.version()
    out["capa_tls"] = capa(p)
    out["stls_again"] = attempt(p._shortcmd, "STLS")
    p.user("alice")
    out["pass"] = text(p.pass_("secret"))
    out["stat"] = list(p.stat())
    resp, lines, octets = p.retr(1)
    out["retr_1_first"] = text(lines[0])
    out["quit"] = text(p.quit())
    return out


def stls_injection(port, args):
    """CVE-2011-0411 style: a command pipelined behind STLS in plaintext
    must not run inside the TLS session."""
    cafile = args[0]
    out = {}
    p = connect(port)
    p._putcmd("STLS\r\nUSER mallory")
    out["stls"] = text(p._getresp())
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    p.sock = ctx.wrap_socket(p.sock, server_hostname="localhost")
    p.file = p.sock.makefile("rb")
    p._tls_established = True
    # If "USER mallory" had been run, PASS would be accepted as its pair.
    out["pass_first"] = attempt(p._shortcmd, "PASS secret")
    out["capa"] = attempt(p._shortcmd, "NOOP")
    out["quit"] = text(p.quit())
    return out


def auth(port, args):
    """AUTH PLAIN with initial response, AUTH PLAIN and LOGIN with
    continuations, cancellation, then a good login."""
    out = {}
    p = connect(port)
    ir = base64.b64encode(b"\0alice\0wrong").decode()
    out["plain_bad"] = attempt(p._shortcmd, "AUTH PLAIN " + ir)
    # LOGIN step by step; the continuation lines start with "+ ".
    out["login_1"] = attempt(p._shortcmd, "AUTH LOGIN")
    out["login_2"] = attempt(p._shortcmd, base64.b64encode(b"alice").decode())
    out["login_cancel"] = attempt(p._shortcmd, "*")
    out["plain_cont"] = attempt(p._shortcmd, "AUTH PLAIN")
    ir = base64.b64encode(b"\0alice\0secret").decode()
    out["plain_ok"] = attempt(p._shortcmd, ir)
    out["stat"] = list(p.stat())
    out["auth_again"] = attempt(p._shortcmd, "AUTH PLAIN " + ir)
    out["quit"] = text(p.quit())
    # And the one-line form on a fresh connection (SASL initial response).
    p = connect(port)
    out["plain_ir"] = attempt(p._shortcmd, "AUTH PLAIN " + base64.b64encode(b"bob\0bob\0correct horse").decode())
    out["stat_bob"] = list(p.stat())
    out["quit_bob"] = text(p.quit())
    return out


def login_failures(port, args):
    """Unknown user and wrong password look the same and are delayed."""
    out = {}
    p = connect(port)
    timings = []
    for user, pw in (("nobody", "secret"), ("alice", "wrong")):
        p.user(user)
        t0 = time.monotonic()
        out[f"{user}"] = attempt(p.pass_, pw)
        timings.append(time.monotonic() - t0)
    out["timings"] = timings
    out["disabled"] = attempt(lambda: (p.user("disabled"), p.pass_("pw"))[1])
    out["closed"] = attempt(p.noop)
    p.close()
    p = connect(port)
    p.user("flaky")
    out["flaky"] = attempt(p.pass_, "x")
    p.user("broken")
    out["broken"] = attempt(p.pass_, "pw")
    out["quit"] = text(p.quit())
    return out


def lock(port, args):
    """A second session on a locked maildrop gets [IN-USE]."""
    out = {}
    first = connect(port)
    first.user("alice")
    out["first"] = text(first.pass_("secret"))
    second = connect(port)
    second.user("alice")
    out["second"] = attempt(second.pass_, "secret")
    out["first_dele"] = text(first.dele(1))
    out["first_quit"] = text(first.quit())
    second.user("alice")
    out["second_retry"] = attempt(second.pass_, "secret")
    out["second_stat"] = list(second.stat())
    out["second_quit"] = text(second.quit())
    return out


def drop(port, args):
    """DELE then the connection drops without QUIT."""
    out = {}
    p = connect(port)
    p.user("alice")
    p.pass_("secret")
    out["dele"] = [text(p.dele(1)), text(p.dele(2))]
    p.sock.shutdown(socket.SHUT_RDWR)
    p.sock.close()
    return out


def pop3s(port, args):
    """Implicit TLS (POP3S): logins are allowed at once."""
    ctx = ssl.create_default_context(cafile=args[0])
    ctx.check_hostname = False
    p = poplib.POP3_SSL("127.0.0.1", port, context=ctx, timeout=15)
    out = {"tls_version": p.sock.version(), "capa": capa(p)}
    p.user("alice")
    out["pass"] = text(p.pass_("secret"))
    out["stat"] = list(p.stat())
    out["quit"] = text(p.quit())
    return out


SCENARIOS = {
    "pop3s": pop3s,
    "basic": basic,
    "stls": stls,
    "stls_injection": stls_injection,
    "auth": auth,
    "login_failures": login_failures,
    "lock": lock,
    "drop": drop,
}


def main():
    scenario, port = sys.argv[1], int(sys.argv[2])
    print(json.dumps(SCENARIOS[scenario](port, sys.argv[3:])))


if __name__ == "__main__":
    main()
