#!/usr/bin/env python3
"""A multi-client IMAP consistency checker.

N clients log in as M users (several clients per user, so their sessions
share mailboxes) and run random SELECT, STORE (system flags and keywords,
NIL among them), APPEND, EXPUNGE, MOVE (also into the selected mailbox
itself), FETCH, NOOP and IDLE for a while. Each client keeps a model of
what its session was told (message count, the UID of each message number,
the keywords announced in FLAGS, each message's MODSEQ) and fails on any
response the session could not have predicted from the RFCs:

- a keyword in a FETCH that no FLAGS response announced (RFC 3501 7.2.6);
- EXPUNGE, FETCH or RECENT for a message number out of range, EXISTS
  going down, an EXPUNGE while a FETCH, STORE or SEARCH by message number
  runs (RFC 3501 7.4.1, 7.3.1, 7.3.2);
- a UID that changes for a message number, UIDs out of order, an
  APPENDUID or UIDNEXT not above every UID seen before (RFC 3501 2.3.1.1);
- a message MODSEQ going backwards, a HIGHESTMODSEQ below a MODSEQ some
  session saw before the SELECT was sent, a FETCH with FLAGS but no MODSEQ
  once CONDSTORE is on, no HIGHESTMODSEQ when it is turned on with a
  mailbox selected (RFC 7162 3.1, 3.1.2, 3.1.4);
- a message `\\Recent` in two sessions (RFC 3501 2.3.2);
- UIDVALIDITY changing, no EXISTS after an APPEND to the selected mailbox,
  any BAD, BYE or unexpected NO.

Usage (tests/imap_consistency.rs runs it against a mailstore):

    imap_consistency.py --host 127.0.0.1 --port 993 --ca ca.pem \\
        --users alice,bob --password-suffix -pw --clients 5 --seconds 5

(`--starttls` for a port without implicit TLS).

Prints a JSON summary (operations, errors, the seed) and exits 1 when any
error was found.
"""

import argparse
import bisect
import collections
import json
import random
import re
import socket
import ssl
import sys
import threading
import time

KEYWORDS = ['$k%d' % i for i in range(6)] + ['NIL', '$Label1']
SYSTEM = ['\\Seen', '\\Flagged', '\\Answered', '\\Draft']
MAILBOXES = ['INBOX', 'Work']


class Shared:
    """What every client has seen, with the time it was seen, for the
    rules that hold between sessions."""

    def __init__(self):
        self.lock = threading.Lock()
        self.uidvalidity = {}
        self.modseq = collections.defaultdict(lambda: ([], []))
        self.uid = collections.defaultdict(lambda: ([], []))
        self.recent = {}
        self.errors = []
        self.error_count = 0
        self.ops = collections.Counter()

    def observe(self, table, key, value):
        """Records `value` for `key` now (a running maximum)."""
        with self.lock:
            times, maxima = table[key]
            best = maxima[-1] if maxima else 0
            if value > best:
                times.append(time.monotonic())
                maxima.append(value)

    def max_before(self, table, key, t):
        """The largest value recorded for `key` before time `t`."""
        with self.lock:
            times, maxima = table[key]
            i = bisect.bisect_left(times, t)
            return maxima[i - 1] if i > 0 else 0

    def error(self, text):
        with self.lock:
            self.error_count += 1
            if len(self.errors) < 50:
                self.errors.append(text)


class Conn:
    """A TLS connection with its own buffer, so that a read can time out
    (IDLE) without losing bytes."""

    def __init__(self, host, port, ca, starttls=False):
        ctx = ssl.create_default_context(cafile=ca)
        ctx.check_hostname = False
        raw = socket.create_connection((host, port), timeout=30)
        self.buf = bytearray()
        if starttls:
            # Greeting and STARTTLS in plain text, then the handshake. IMAP
            # sends no second greeting: a stand-in keeps the caller's first
            # read the same on both kinds of port.
            self.sock = raw
            self.readline()
            self.send(b's0 STARTTLS\r\n')
            if not (self.readline() or '').startswith('s0 OK'):
                raise ConnectionError('STARTTLS refused')
            self.buf.extend(b'* OK greeting before STARTTLS\r\n')
        self.sock = ctx.wrap_socket(raw, server_hostname='localhost')

    def _fill(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        if not data:
            raise EOFError('connection closed by the server')
        self.buf.extend(data)
        return True

    def readline(self, timeout=30.0):
        """One response line with its literals inlined, or None on timeout."""
        deadline = time.monotonic() + timeout
        out = b''
        while True:
            i = self.buf.find(b'\n')
            while i < 0:
                left = deadline - time.monotonic()
                if left <= 0 or not self._fill(left):
                    if out or self.buf:
                        raise TimeoutError('partial line: %r' % (out + bytes(self.buf)))
                    return None
                i = self.buf.find(b'\n')
            line = bytes(self.buf[:i + 1])
            del self.buf[:i + 1]
            out += line
            m = re.search(rb'\{(\d+)\+?\}\r\n$', line)
            if not m:
                return out.decode('utf-8', 'replace').rstrip('\r\n')
            n = int(m.group(1))
            while len(self.buf) < n:
                if not self._fill(max(0.1, deadline - time.monotonic())):
                    raise TimeoutError('literal cut short')
            out += bytes(self.buf[:n])
            del self.buf[:n]

    def send(self, data):
        self.sock.sendall(data)


class Client(threading.Thread):
    def __init__(self, cid, user, args, shared, seed):
        super().__init__(daemon=True)
        self.cid = cid
        self.user = user
        self.args = args
        self.shared = shared
        self.rng = random.Random(seed)
        self.tags = 0
        self.condstore = False
        self.selected = None
        self.selecting = None
        self.current = ''
        self.no_expunge = False
        self.got_exists = False
        self.got_highest = False
        self.got_copyuid = False
        self.sent_at = 0.0
        self.reset()

    # The session model ------------------------------------------------

    def reset(self):
        self.exists = 0
        self.uids = []
        self.modseqs = {}
        self.keywords = None
        self.seen_modseq = 0

    def err(self, text, line=''):
        self.shared.error('client %d (%s, %s) %s: %s%s' % (
            self.cid, self.user, self.selected, self.current, text,
            (' <- ' + line[:300]) if line else ''))

    def key(self, mailbox=None):
        return (self.user, mailbox or self.selected)

    def untagged(self, line):
        """Checks one untagged response against the model and applies it."""
        m = re.match(r'\* (\d+) (EXISTS|EXPUNGE|RECENT|FETCH)\b(.*)$', line)
        if m:
            n, what, rest = int(m.group(1)), m.group(2), m.group(3)
            if self.selected is None:
                return self.err('%s with no mailbox selected' % what, line)
            getattr(self, 'on_' + what.lower())(n, rest, line)
            return
        if line.startswith('* FLAGS '):
            flags = re.match(r'\* FLAGS \(([^)]*)\)', line)
            if not flags:
                return self.err('malformed FLAGS', line)
            self.keywords = {f.lower() for f in flags.group(1).split() if not f.startswith('\\')}
            return
        m = re.match(r'\* OK \[([A-Z-]+)(?: ([^\]]*))?\]', line)
        if m:
            return self.on_code(m.group(1), m.group(2) or '', line)
        if line.startswith('* BYE') and self.current.startswith('LOGOUT'):
            return
        if re.match(r'\* (BAD|NO|BYE)\b', line):
            return self.err('unexpected', line)
        # CAPABILITY, ENABLED, SEARCH, OK without code: nothing to check.

    def on_exists(self, n, rest, line):
        if n < self.exists:
            self.err('EXISTS went down from %d' % self.exists, line)
        self.uids.extend([None] * (n - len(self.uids)))
        self.exists = n
        self.got_exists = True

    def on_expunge(self, n, rest, line):
        if self.no_expunge:
            self.err('EXPUNGE during a command by message number (RFC 3501 7.4.1)', line)
        if not 1 <= n <= self.exists:
            return self.err('EXPUNGE of message %d of %d' % (n, self.exists), line)
        uid = self.uids.pop(n - 1)
        self.modseqs.pop(uid, None)
        self.exists -= 1

    def on_recent(self, n, rest, line):
        if n > self.exists:
            self.err('RECENT %d above EXISTS %d' % (n, self.exists), line)

    def on_fetch(self, n, rest, line):
        if not 1 <= n <= self.exists:
            return self.err('FETCH for message %d of %d' % (n, self.exists), line)
        uid = re.search(r'\bUID (\d+)', rest)
        flags = re.search(r'\bFLAGS \(([^)]*)\)', rest)
        modseq = re.search(r'\bMODSEQ \((\d+)\)', rest)
        if uid:
            u = int(uid.group(1))
            known = self.uids[n - 1]
            if known is not None and known != u:
                return self.err('message %d was UID %d' % (n, known), line)
            left = [x for x in self.uids[:n - 1] if x is not None]
            right = [x for x in self.uids[n:] if x is not None]
            if (left and left[-1] >= u) or (right and right[0] <= u):
                self.err('UIDs out of order around message %d' % n, line)
            self.uids[n - 1] = u
        u = self.uids[n - 1]
        if flags:
            names = flags.group(1).split()
            if self.keywords is None:
                self.err('FETCH FLAGS before any FLAGS response', line)
            else:
                for f in names:
                    if not f.startswith('\\') and f.lower() not in self.keywords:
                        self.err('keyword %s never announced in FLAGS (RFC 3501 7.2.6)' % f, line)
            if '\\Recent' in names and u is not None:
                k = (self.user, self.selected, u)
                with self.shared.lock:
                    owner = self.shared.recent.setdefault(k, self.cid)
                if owner != self.cid:
                    self.err('\\Recent also in client %d (RFC 3501 2.3.2)' % owner, line)
            if self.condstore and not (modseq and uid):
                self.err('FETCH with FLAGS but no UID and MODSEQ under CONDSTORE (RFC 7162 3.1)', line)
        if modseq:
            ms = int(modseq.group(1))
            if u is not None:
                if ms < self.modseqs.get(u, 0):
                    self.err('MODSEQ of UID %d went back from %d' % (u, self.modseqs[u]), line)
                self.modseqs[u] = ms
            self.seen_modseq = max(self.seen_modseq, ms)
            self.shared.observe(self.shared.modseq, self.key(), ms)
        if u is not None:
            self.shared.observe(self.shared.uid, self.key(), u)

    def on_code(self, code, arg, line):
        if code == 'UIDVALIDITY':
            with self.shared.lock:
                v = self.shared.uidvalidity.setdefault(self.key(self.selecting), int(arg))
            if v != int(arg):
                self.err('UIDVALIDITY changed from %d' % v, line)
        elif code == 'UIDNEXT' and self.selecting:
            before = self.shared.max_before(self.shared.uid, self.key(self.selecting), self.sent_at)
            if int(arg) <= before:
                self.err('UIDNEXT not above UID %d seen earlier' % before, line)
        elif code == 'COPYUID':
            self.got_copyuid = True
        elif code == 'HIGHESTMODSEQ':
            h = int(arg)
            self.got_highest = True
            mailbox = self.selecting or self.selected
            before = self.shared.max_before(self.shared.modseq, self.key(mailbox), self.sent_at)
            if h < before:
                self.err('HIGHESTMODSEQ below MODSEQ %d seen before the command' % before, line)
            if not self.selecting and h < self.seen_modseq:
                self.err('HIGHESTMODSEQ below MODSEQ %d this session saw' % self.seen_modseq, line)

    # Commands ----------------------------------------------------------

    def command(self, text, no_expunge=False, literal=None):
        """Sends a command, checks every response, returns the tagged line."""
        self.tags += 1
        tag = 'c%d.%d' % (self.cid, self.tags)
        self.current = text.split(' {')[0][:80]
        self.no_expunge = no_expunge
        self.got_exists = False
        self.got_highest = False
        self.got_copyuid = False
        self.sent_at = time.monotonic()
        data = ('%s %s\r\n' % (tag, text)).encode()
        if literal is not None:
            data = data + literal + b'\r\n'
        self.conn.send(data)
        while True:
            line = self.conn.readline()
            if line is None:
                raise TimeoutError('no answer to ' + self.current)
            if line.startswith(tag + ' '):
                status = line.split(' ', 2)[1]
                if status == 'BAD':
                    self.err('BAD', line)
                elif status == 'NO' and '[EXPUNGEISSUED]' not in line:
                    self.err('NO', line)
                self.shared.ops[text.split(' ')[0] if not text.startswith('UID') else ' '.join(text.split(' ')[:2])] += 1
                return line
            if line.startswith('* '):
                self.untagged(line)
            else:
                self.err('unexpected line', line)

    def select(self, mailbox):
        self.selecting = mailbox
        self.reset()
        self.selected = mailbox
        line = self.command('SELECT ' + mailbox)
        self.selecting = None
        if ' OK ' not in line:
            self.selected = None
            return
        if not self.got_highest:
            self.err('no HIGHESTMODSEQ in the SELECT answer (RFC 7162 3.1.2.1)')
        if self.keywords is None:
            self.err('no FLAGS in the SELECT answer')
        # Learn the UID of every message (UID FETCH works on an empty one).
        self.command('UID FETCH 1:* (FLAGS)')

    def random_seq(self):
        return self.rng.randint(1, self.exists)

    def op_fetch(self):
        if not self.exists:
            return
        items = 'FLAGS UID'
        turning_on = False
        if self.rng.random() < 0.5:
            items += ' MODSEQ'
            turning_on = not self.condstore
        n = self.random_seq()
        m = min(self.exists, n + self.rng.randint(0, 5))
        self.condstore = self.condstore or turning_on
        self.command('FETCH %d:%d (%s)' % (n, m, items), no_expunge=True)
        if turning_on and not self.got_highest:
            self.err('CONDSTORE turned on with a mailbox selected, no HIGHESTMODSEQ (RFC 7162 3.1)')

    def op_store(self):
        if not self.exists:
            return
        flags = self.rng.sample(KEYWORDS + SYSTEM, self.rng.randint(1, 3))
        sign = self.rng.choice(['+', '+', '-'])
        silent = '.SILENT' if self.rng.random() < 0.2 else ''
        n = self.random_seq()
        if self.rng.random() < 0.3 and self.uids[n - 1] is not None:
            self.command('UID STORE %d %sFLAGS%s (%s)' % (self.uids[n - 1], sign, silent, ' '.join(flags)))
        else:
            self.command('STORE %d %sFLAGS%s (%s)' % (n, sign, silent, ' '.join(flags)), no_expunge=True)

    def op_append(self):
        mailbox = self.rng.choice(MAILBOXES)
        flags = self.rng.sample(KEYWORDS + SYSTEM, self.rng.randint(0, 2))
        body = ('From: checker@example.net\r\nTo: %s@example.test\r\nSubject: c%d %d\r\n'
                'Message-ID: <c%d.%d.%d@example.net>\r\n\r\nconsistency %s\r\n' % (
                    self.user, self.cid, self.tags, self.cid, self.tags, self.rng.random(),
                    'x' * self.rng.randint(0, 200))).encode()
        sent = time.monotonic()
        line = self.command('APPEND %s (%s) {%d+}' % (mailbox, ' '.join(flags), len(body)), literal=body)
        m = re.search(r'\[APPENDUID (\d+) (\d+)\]', line)
        if not m:
            return self.err('APPEND without APPENDUID', line)
        uid = int(m.group(2))
        before = self.shared.max_before(self.shared.uid, self.key(mailbox), sent)
        if uid <= before:
            self.err('APPENDUID %d not above UID %d seen earlier' % (uid, before), line)
        self.shared.observe(self.shared.uid, self.key(mailbox), uid)
        if mailbox == self.selected and not self.got_exists:
            self.err('no EXISTS after an APPEND to the selected mailbox (RFC 3501 6.3.11)', line)

    def op_expunge(self):
        if not self.exists:
            return
        self.command('STORE %d +FLAGS.SILENT (\\Deleted)' % self.random_seq(), no_expunge=True)
        if self.rng.random() < 0.5:
            self.command('EXPUNGE')
        else:
            known = [u for u in self.uids if u is not None]
            if known:
                self.command('UID EXPUNGE %d:%d' % (min(known), max(known)))

    def op_move(self):
        if not self.exists:
            return
        target = self.rng.choice(MAILBOXES)
        line = self.command('MOVE %d %s' % (self.random_seq(), target))
        # Something moved (COPYUID) into the mailbox itself: its EXISTS.
        if target == self.selected and self.got_copyuid and not self.got_exists:
            self.err('MOVE into the selected mailbox without EXISTS (RFC 6851 3.3)', line)

    def op_idle(self):
        self.tags += 1
        tag = 'c%d.%d' % (self.cid, self.tags)
        self.current = 'IDLE'
        self.no_expunge = False
        self.sent_at = time.monotonic()
        self.conn.send(('%s IDLE\r\n' % tag).encode())
        first = self.conn.readline()
        while first is not None and first.startswith('* '):
            self.untagged(first)
            first = self.conn.readline()
        if first is None or not first.startswith('+'):
            return self.err('no continuation for IDLE', first or '')
        deadline = time.monotonic() + self.rng.uniform(0.05, 0.4)
        while True:
            line = self.conn.readline(timeout=max(0.0, deadline - time.monotonic()))
            if line is None:
                break
            self.untagged(line)
        self.conn.send(b'DONE\r\n')
        while True:
            line = self.conn.readline()
            if line is None:
                raise TimeoutError('no answer to DONE')
            if line.startswith(tag + ' '):
                if ' OK ' not in line:
                    self.err('IDLE ended badly', line)
                self.shared.ops['IDLE'] += 1
                return
            self.untagged(line)

    def run(self):
        self.current = 'connect'
        try:
            self.conn = Conn(self.args.host, self.args.port, self.args.ca, self.args.starttls)
            greeting = self.conn.readline()
            if not greeting or not greeting.startswith('* OK'):
                return self.err('bad greeting', greeting or '')
            self.command('LOGIN %s %s%s' % (self.user, self.user, self.args.password_suffix))
            if self.rng.random() < 0.5:
                self.command('ENABLE CONDSTORE')
                self.condstore = True
            deadline = time.monotonic() + self.args.seconds
            ops = [(self.op_fetch, 20), (self.op_store, 25), (self.op_append, 15),
                   (self.op_expunge, 6), (self.op_move, 7), (lambda: self.command('NOOP'), 10),
                   (self.op_idle, 8), (lambda: self.select(self.rng.choice(MAILBOXES)), 5)]
            funcs = [f for f, _ in ops]
            weights = [w for _, w in ops]
            while time.monotonic() < deadline:
                if self.selected is None:
                    self.select(self.rng.choice(MAILBOXES))
                    continue
                self.rng.choices(funcs, weights)[0]()
            self.current = 'LOGOUT'
            self.command('LOGOUT')
        except Exception as e:  # noqa: BLE001 - every failure is a finding
            self.err('client stopped: %r' % e)


def setup(args, users):
    """Each user gets the Work mailbox and a few messages to start with."""
    for user in users:
        c = Client(-1, user, args, Shared(), 0)
        c.current = 'setup'
        c.conn = Conn(args.host, args.port, args.ca, args.starttls)
        c.conn.readline()
        c.command('LOGIN %s %s%s' % (user, user, args.password_suffix))
        c.command('CREATE Work')
        for i in range(3):
            body = b'Subject: seed %d\r\n\r\nseed\r\n' % i
            c.command('APPEND INBOX {%d+}' % len(body), literal=body)
        c.command('LOGOUT')


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, required=True, help='IMAP with implicit TLS')
    p.add_argument('--starttls', action='store_true', help='the port is plain IMAP: STARTTLS first')
    p.add_argument('--ca', required=True, help='CA certificate file')
    p.add_argument('--users', required=True, help='comma-separated user ids')
    p.add_argument('--password-suffix', default='-pw', help='password = user id + this')
    p.add_argument('--clients', type=int, default=5)
    p.add_argument('--seconds', type=float, default=5)
    p.add_argument('--seed', type=int, default=None)
    args = p.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    users = args.users.split(',')
    setup(args, users)
    shared = Shared()
    clients = [Client(i, users[i % len(users)], args, shared, seed * 1000 + i)
               for i in range(args.clients)]
    started = time.monotonic()
    for c in clients:
        c.start()
    for c in clients:
        c.join(args.seconds + 120)
        if c.is_alive():
            shared.error('client %d did not finish' % c.cid)
    elapsed = time.monotonic() - started
    total = sum(shared.ops.values())
    print(json.dumps({
        'seed': seed,
        'clients': args.clients,
        'users': len(users),
        'seconds': round(elapsed, 1),
        'commands': total,
        'commands_per_second': round(total / elapsed, 1) if elapsed else 0,
        'by_command': dict(shared.ops),
        'error_count': shared.error_count,
        'errors': shared.errors,
    }, indent=1, sort_keys=True))
    sys.exit(1 if shared.error_count else 0)


if __name__ == '__main__':
    main()
