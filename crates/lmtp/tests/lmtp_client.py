#!/usr/bin/env python3
"""Drives the LMTP server with Python's smtplib.LMTP (a real client).

usage: lmtp_client.py SCENARIO PORT [ARGS...]; prints one JSON document.
smtplib.LMTP.data() reads only the first per-recipient reply, so the
scenarios read the others with getreply() (RFC 2033 4.2).
"""
import json
import smtplib
import ssl
import sys

MESSAGE = (
    b"From: sender@example.net\r\n"
    b"To: alice@example.org\r\n"
    b"Subject: hello\r\n"
    b"\r\n"
    b"Hello.\r\n"
    b".leading dot survives\r\n"
)


def reply(pair):
    code, msg = pair
    return [code, msg.decode("utf-8", "replace")]


def transaction(lmtp, rcpts, message=MESSAGE, mail_options=()):
    """MAIL, RCPTs, DATA; returns the RCPT replies and the per-recipient
    DATA replies (one per accepted recipient)."""
    out = {"mail": reply(lmtp.mail("sender@example.net", list(mail_options)))}
    out["rcpt"] = [reply(lmtp.rcpt(r)) for r in rcpts]
    accepted = sum(1 for code, _ in out["rcpt"] if code == 250)
    if accepted == 0:
        return out
    try:
        first = lmtp.data(message)
    except smtplib.SMTPDataError as e:
        out["data"] = [[e.smtp_code, e.smtp_error.decode("utf-8", "replace")]]
        return out
    out["data"] = [reply(first)] + [reply(lmtp.getreply()) for _ in range(accepted - 1)]
    return out


def main():
    scenario, port = sys.argv[1], int(sys.argv[2])
    args = sys.argv[3:]
    lmtp = smtplib.LMTP("127.0.0.1", port, local_hostname="relay.test", timeout=15)
    result = {}
    code, _ = lmtp.ehlo()  # LMTP.ehlo sends LHLO
    result["lhlo"] = code
    result["features"] = sorted(lmtp.esmtp_features.keys())
    if scenario == "mixed":
        result.update(transaction(lmtp, args))
    elif scenario == "twice":
        # Two transactions on one connection.
        result["first"] = transaction(lmtp, ["alice@example.org"])
        result["second"] = transaction(lmtp, ["bob@example.org"])
    elif scenario == "big":
        size = int(args[0])
        line = b"x" * 76 + b"\r\n"
        body = MESSAGE + line * (size // len(line))
        opts = args[1:]
        result.update(transaction(lmtp, ["alice@example.org"], body, opts))
    elif scenario == "starttls":
        ctx = ssl.create_default_context(cafile=args[0])
        ctx.check_hostname = False
        result["starttls"] = reply(lmtp.starttls(context=ctx))
        result["cipher"] = lmtp.sock.version()
        code, _ = lmtp.ehlo()
        result["lhlo_after_tls"] = code
        result["features_after_tls"] = sorted(lmtp.esmtp_features.keys())
        result.update(transaction(lmtp, ["alice@example.org"]))
    elif scenario == "starttls_injection":
        # CVE-2011-0411: a command pipelined behind STARTTLS in plain text
        # must be discarded, not executed inside the TLS session.
        ctx = ssl.create_default_context(cafile=args[0])
        ctx.check_hostname = False
        lmtp.send("STARTTLS\r\nHELP\r\n")
        result["starttls"] = reply(lmtp.getreply())
        lmtp.sock = ctx.wrap_socket(lmtp.sock, server_hostname="localhost")
        lmtp.file = None
        lmtp.send("NOOP\r\n")
        result["after_tls"] = reply(lmtp.getreply())
        code, _ = lmtp.ehlo()
        result["lhlo_after_tls"] = code
    elif scenario == "utf8":
        msg = "Subject: grüße\r\n\r\nHallo Jörg\r\n".encode()
        result.update(transaction(lmtp, ["jörg@example.org"], msg, ["SMTPUTF8", "BODY=8BITMIME"]))
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    result["quit"] = reply(lmtp.quit())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
