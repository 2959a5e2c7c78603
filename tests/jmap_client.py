# Helpers the JMAP process tests (tests/jmap.rs) prepend to their Python
# scripts: raw HTTPS requests with the standard library, so every status,
# header and byte the store sends can be checked.
import base64, http.client, json, os, ssl, sys, time

CA = os.environ["JMAP_CA"]
HOST = os.environ["JMAP_HOST"]
PORT = int(os.environ["JMAP_PORT"])
CORE = "urn:ietf:params:jmap:core"
MAIL = "urn:ietf:params:jmap:mail"
SUBMISSION = "urn:ietf:params:jmap:submission"
VACATION = "urn:ietf:params:jmap:vacationresponse"


def req(method, path, body=None, user="alice", pw=None, headers=None, source=None,
        ctype="application/json"):
    ctx = ssl.create_default_context(cafile=CA)
    c = http.client.HTTPSConnection(HOST, PORT, context=ctx, timeout=30,
                                    source_address=(source, 0) if source else None)
    h = {}
    if ctype:
        h["Content-Type"] = ctype
    if user is not None:
        cred = f"{user}:{pw if pw is not None else user + '-pw'}"
        h["Authorization"] = "Basic " + base64.b64encode(cred.encode()).decode()
    h.update(headers or {})
    if isinstance(body, str):
        body = body.encode()
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def api_raw(calls, using=(CORE, MAIL), **kw):
    return req("POST", "/jmap/api/", json.dumps({"using": list(using), "methodCalls": calls}), **kw)


def api(calls, using=(CORE, MAIL, SUBMISSION, VACATION), **kw):
    st, h, data = api_raw(calls, using, **kw)
    assert st == 200, (st, data)
    return json.loads(data)["methodResponses"]


def one(call, **kw):
    r = api([call], **kw)
    assert len(r) == 1, r
    return r[0]


def session(**kw):
    st, h, data = req("GET", "/jmap/session", **kw)
    assert st == 200, (st, data)
    return json.loads(data)


def problem(st, h, data, kind, status=400):
    assert st == status, (st, data)
    assert h["content-type"].startswith("application/problem+json"), h
    p = json.loads(data)
    assert p["type"] == "urn:ietf:params:jmap:error:" + kind, p
    assert p["status"] == status, p
    return p


def inbox(acc="alice", **kw):
    r = one(["Mailbox/query", {"accountId": acc, "filter": {"role": "inbox"}}, "q"], **kw)
    return r[1]["ids"][0]
