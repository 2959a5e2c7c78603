#!/usr/bin/env python3
"""Drives the SMTP server with Python's smtplib (a real client).

usage: smtp_client.py SCENARIO PORT [ARGS...]; prints one JSON document.
"""
import base64
import json
import smtplib
import ssl
import sys

MESSAGE = (
    b"From: bob@example.net\r\n"
    b"To: alice@example.org\r\n"
    b"Subject: hello\r\n"
    b"Message-ID: <python-1@example.net>\r\n"
    b"\r\n"
    b"Hello.\r\n"
    b".leading dot survives\r\n"
)


def reply(pair):
    code, msg = pair
    return [code, msg.decode("utf-8", "replace")]


def transaction(smtp, sender, rcpts, message=MESSAGE, mail_options=(), rcpt_options=()):
    out = {"mail": reply(smtp.mail(sender, list(mail_options)))}
    if out["mail"][0] != 250:
        smtp.rset()
        return out
    out["rcpt"] = [reply(smtp.rcpt(r, list(rcpt_options))) for r in rcpts]
    if not any(code == 250 for code, _ in out["rcpt"]):
        smtp.rset()
        return out
    try:
        out["data"] = reply(smtp.data(message))
    except smtplib.SMTPDataError as e:
        out["data"] = [e.smtp_code, e.smtp_error.decode("utf-8", "replace")]
    return out


def tls_context(cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    return ctx


def main():
    scenario, port = sys.argv[1], int(sys.argv[2])
    args = sys.argv[3:]
    smtp = smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=15)
    result = {}
    code, _ = smtp.ehlo()
    result["ehlo"] = code
    result["features"] = sorted(smtp.esmtp_features.keys())
    if scenario == "dsn":
        result.update(
            transaction(
                smtp,
                "bob@example.net",
                ["alice@example.org", "carol@example.org", "nobody@example.org"],
                mail_options=["RET=HDRS", "ENVID=env+2B1", "SIZE=%d" % len(MESSAGE)],
                rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;orig+2Bx@example.org"],
            )
        )
    elif scenario == "submission":
        ctx = tls_context(args[0])
        result["starttls"] = reply(smtp.starttls(context=ctx))
        smtp.ehlo()
        result["features_after_tls"] = sorted(smtp.esmtp_features.keys())
        result["auth_line"] = smtp.esmtp_features.get("auth", "")
        result["unauthenticated"] = transaction(smtp, "alice@example.org", ["x@remote.test"])
        try:
            smtp.login("alice@example.org", "wrong")
            result["bad_login"] = 235
        except smtplib.SMTPAuthenticationError as e:
            result["bad_login"] = e.smtp_code
        mech = args[1] if len(args) > 1 else "PLAIN"
        smtp.user, smtp.password = "alice@example.org", "secret"
        obj = smtp.auth_plain if mech == "PLAIN" else smtp.auth_login
        result["login"] = reply(smtp.auth(mech, obj, initial_response_ok=(mech == "PLAIN")))
        result["foreign_sender"] = transaction(smtp, "mallory@example.org", ["x@remote.test"])
        result["own_sender"] = transaction(smtp, "alice@example.org", ["x@remote.test", "bob@example.org"])
    elif scenario == "noauth":
        code, msg = smtp.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0alice@example.org\0secret").decode())
        result["auth"] = [code, msg.decode()]
    elif scenario == "utf8":
        msg = "From: jörg@example.org\r\nSubject: grüße\r\n\r\nHallo Jörg\r\n".encode()
        result.update(
            transaction(smtp, "jörg@example.org", ["jörg@example.org"], msg, ["SMTPUTF8", "BODY=8BITMIME"])
        )
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    result["quit"] = reply(smtp.quit())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
