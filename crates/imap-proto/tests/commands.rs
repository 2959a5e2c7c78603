//! One test per command family and per bad-input case of issue 5.

use mail_imap_proto::command::Qresync;
use mail_imap_proto::{
    CommandBody, ErrorKind, FetchAttr, ParseOptions, Parsed, SearchKey, SearchReturn, Section,
    SectionText, SeqNum, SequenceSet, StatusItem, StoreMode, ThreadAlgorithm, parse_command,
};

fn opts() -> ParseOptions {
    ParseOptions::default()
}

fn parse(input: &str) -> CommandBody {
    parse_with(input.as_bytes(), &opts())
}

fn parse_with(input: &[u8], o: &ParseOptions) -> CommandBody {
    match parse_command(input, o) {
        Ok(Parsed::Complete { command, consumed }) => {
            assert_eq!(consumed, input.len(), "consumed");
            command.body
        }
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
    }
}

fn error(input: &[u8]) -> mail_imap_proto::ParseError {
    match parse_command(input, &opts()) {
        Err(e) => e,
        other => panic!("{:?} parsed: {other:?}", String::from_utf8_lossy(input)),
    }
}

#[test]
fn simple_commands() {
    for (s, want) in [
        ("a CAPABILITY\r\n", CommandBody::Capability),
        ("a noop\r\n", CommandBody::Noop),
        ("a LOGOUT\r\n", CommandBody::Logout),
        ("a STARTTLS\r\n", CommandBody::StartTls),
        ("a IDLE\r\n", CommandBody::Idle),
        ("a CHECK\r\n", CommandBody::Check),
        ("a CLOSE\r\n", CommandBody::Close),
        ("a UNSELECT\r\n", CommandBody::Unselect),
        ("a NAMESPACE\r\n", CommandBody::Namespace),
        ("a EXPUNGE\r\n", CommandBody::Expunge { uids: None }),
        (
            "a COMPRESS deflate\r\n",
            CommandBody::Compress("DEFLATE".into()),
        ),
    ] {
        assert_eq!(parse(s), want, "{s}");
    }
}

#[test]
fn login_and_authenticate() {
    assert_eq!(
        parse("a LOGIN alice \"p a\\\"ss\"\r\n"),
        CommandBody::Login {
            username: "alice".into(),
            password: "p a\"ss".into()
        }
    );
    assert_eq!(
        parse("a LOGIN {5}\r\nalice {3}\r\npwd\r\n"),
        CommandBody::Login {
            username: "alice".into(),
            password: "pwd".into()
        }
    );
    assert_eq!(
        parse("a AUTHENTICATE PLAIN AGEAYg==\r\n"),
        CommandBody::Authenticate {
            mechanism: "PLAIN".into(),
            initial: Some(b"\0a\0b".to_vec())
        }
    );
    assert_eq!(
        parse("a AUTHENTICATE plain =\r\n"),
        CommandBody::Authenticate {
            mechanism: "PLAIN".into(),
            initial: Some(vec![])
        }
    );
    assert_eq!(
        parse("a AUTHENTICATE LOGIN\r\n"),
        CommandBody::Authenticate {
            mechanism: "LOGIN".into(),
            initial: None
        }
    );
    assert!(matches!(
        error(b"a AUTHENTICATE PLAIN !!!\r\n").kind,
        ErrorKind::Syntax(_)
    ));
    assert_eq!(
        parse("a ENABLE CONDSTORE utf8=accept\r\n"),
        CommandBody::Enable(vec!["CONDSTORE".into(), "UTF8=ACCEPT".into()])
    );
    assert_eq!(
        parse("a ID (\"name\" \"x\" \"os\" NIL)\r\n"),
        CommandBody::Id(Some(vec![
            ("name".into(), Some("x".into())),
            ("os".into(), None)
        ]))
    );
    assert_eq!(parse("a ID NIL\r\n"), CommandBody::Id(None));
}

#[test]
fn select_with_condstore_and_qresync() {
    let CommandBody::Select {
        mailbox,
        read_only,
        params,
    } = parse("a EXAMINE inbox (CONDSTORE)\r\n")
    else {
        panic!()
    };
    assert_eq!(mailbox.0, "INBOX");
    assert!(read_only && params.condstore);
    let CommandBody::Select { params, .. } =
        parse("a SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541 (1:5 3:7)))\r\n")
    else {
        panic!()
    };
    let Qresync {
        uid_validity,
        modseq,
        known_uids,
        seq_match,
    } = params.qresync.expect("qresync");
    assert_eq!((uid_validity, modseq), (67_890_007, 90_060_115_194_045_000));
    assert!(known_uids.is_some() && seq_match.is_some());
}

#[test]
fn mailbox_commands() {
    assert!(
        matches!(parse("a CREATE Drafts (USE (\\Drafts))\r\n"), CommandBody::Create { special_use, .. } if special_use == ["\\Drafts"])
    );
    assert!(matches!(parse("a DELETE \"x y\"\r\n"), CommandBody::Delete(m) if m.0 == "x y"));
    assert!(
        matches!(parse("a RENAME a &AOk-\r\n"), CommandBody::Rename { to, .. } if to.0 == "\u{e9}")
    );
    assert!(matches!(
        parse("a SUBSCRIBE a\r\n"),
        CommandBody::Subscribe(_)
    ));
    assert!(matches!(
        parse("a UNSUBSCRIBE a\r\n"),
        CommandBody::Unsubscribe(_)
    ));
    assert!(
        matches!(parse("a LSUB \"\" *\r\n"), CommandBody::Lsub { pattern, .. } if pattern == "*")
    );
    let CommandBody::Status { items, .. } =
        parse("a STATUS INBOX (MESSAGES SIZE HIGHESTMODSEQ UNSEEN)\r\n")
    else {
        panic!()
    };
    assert_eq!(
        items,
        [
            StatusItem::Messages,
            StatusItem::Size,
            StatusItem::HighestModSeq,
            StatusItem::Unseen
        ]
    );
}

#[test]
fn list_extended() {
    let CommandBody::List(l) = parse("a LIST \"\" %\r\n") else {
        panic!()
    };
    assert!(!l.extended && l.patterns == ["%"]);
    let CommandBody::List(l) = parse(
        "a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (INBOX \"Lists/*\") RETURN (CHILDREN SPECIAL-USE STATUS (MESSAGES UNSEEN))\r\n",
    ) else {
        panic!()
    };
    assert!(l.extended && l.select_subscribed && l.recursive_match);
    assert_eq!(l.patterns, ["INBOX", "Lists/*"]);
    assert!(l.returns.children && l.returns.special_use);
    assert_eq!(
        l.returns.status,
        Some(vec![StatusItem::Messages, StatusItem::Unseen])
    );
    let CommandBody::List(l) = parse("a LIST (SPECIAL-USE) \"\" *\r\n") else {
        panic!()
    };
    assert!(l.select_special_use);
    assert!(matches!(
        error(b"a LIST (RECURSIVEMATCH) \"\" *\r\n").kind,
        ErrorKind::Syntax(_)
    ));
}

#[test]
fn append_single_multi_and_binary() {
    let CommandBody::Append { mailbox, messages } =
        parse("a APPEND Sent (\\Seen) \" 7-Jul-1996 02:44:25 -0700\" {5+}\r\nhello\r\n")
    else {
        panic!()
    };
    assert_eq!(mailbox.0, "Sent");
    assert_eq!(messages[0].data, b"hello");
    assert_eq!(messages[0].date.expect("date").unix(), 836_732_665);
    let CommandBody::Append { messages, .. } =
        parse("a APPEND x {1}\r\na (\\Flagged) {1}\r\nb\r\n")
    else {
        panic!()
    };
    assert_eq!(messages.len(), 2);
    let CommandBody::Append { messages, .. } = parse_with(b"a APPEND x ~{3}\r\na\0b\r\n", &opts())
    else {
        panic!()
    };
    assert!(messages[0].binary && messages[0].data == b"a\0b");
    assert!(matches!(
        error(b"a APPEND x {3}\r\na\0b\r\n").kind,
        ErrorKind::Syntax(_)
    ));
    assert!(matches!(
        error(b"a APPEND x \"32-Jan-2000 00:00:00 +0000\" {1}\r\na\r\n").kind,
        ErrorKind::Syntax(_)
    ));
}

#[test]
fn fetch_items() {
    let CommandBody::Fetch {
        uid,
        set,
        items,
        modifiers,
    } = parse(
        "a UID FETCH 1:* (UID FLAGS BODY.PEEK[1.2.HEADER.FIELDS.NOT (X-A x-b)]<10.20> BINARY[1] BINARY.SIZE[2] MODSEQ BODY RFC822.SIZE) (CHANGEDSINCE 5 VANISHED)\r\n",
    )
    else {
        panic!()
    };
    assert!(uid);
    assert_eq!(
        set,
        SequenceSet::Ranges(vec![mail_imap_proto::SeqRange {
            start: SeqNum::Value(1),
            end: SeqNum::Star
        }])
    );
    assert_eq!(
        items[2],
        FetchAttr::BodySection {
            peek: true,
            section: Section {
                part: vec![1, 2],
                text: Some(SectionText::HeaderFields {
                    not: true,
                    fields: vec!["X-A".into(), "X-B".into()]
                })
            },
            partial: Some((10, 20)),
        }
    );
    assert_eq!(
        items[3],
        FetchAttr::Binary {
            peek: false,
            part: vec![1],
            partial: None
        }
    );
    assert_eq!(items[6], FetchAttr::Body);
    assert_eq!(
        (modifiers.changed_since, modifiers.vanished),
        (Some(5), true)
    );
    assert_eq!(
        parse("a FETCH 1 ALL\r\n"),
        parse("a FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)\r\n")
    );
    let CommandBody::Fetch { items, .. } = parse("a FETCH 2,4 BODY[]\r\n") else {
        panic!()
    };
    assert_eq!(
        items,
        [FetchAttr::BodySection {
            peek: false,
            section: Section::default(),
            partial: None
        }]
    );
    let CommandBody::Fetch { items, .. } =
        parse("a FETCH 1 (BODY[2.MIME] BODY[TEXT] RFC822.HEADER)\r\n")
    else {
        panic!()
    };
    assert_eq!(items.len(), 3);
    assert_eq!(
        Section {
            part: vec![2],
            text: Some(SectionText::Mime)
        }
        .to_wire(),
        "[2.MIME]"
    );
    assert!(matches!(
        error(b"a FETCH 1 (CHANGEDSINCE 5 VANISHED)\r\n").kind,
        ErrorKind::Syntax(_)
    ));
    assert!(matches!(
        error(b"a FETCH 1 FLAGS (VANISHED)\r\n").kind,
        ErrorKind::Syntax(_)
    ));
    assert!(matches!(
        error(b"a FETCH 1 BODY[MIME]\r\n").kind,
        ErrorKind::Syntax(_)
    ));
}

#[test]
fn store_copy_move_expunge() {
    assert_eq!(
        parse("a UID STORE 1:3 (UNCHANGEDSINCE 7) -FLAGS.SILENT (\\Seen)\r\n"),
        CommandBody::Store {
            uid: true,
            set: SequenceSet::from_numbers([1, 2, 3]),
            mode: StoreMode::Remove,
            silent: true,
            flags: vec!["\\Seen".into()],
            unchanged_since: Some(7),
        }
    );
    assert!(
        matches!(parse("a STORE 1 FLAGS \\Deleted $x\r\n"), CommandBody::Store { mode: StoreMode::Replace, flags, .. } if flags.len() == 2)
    );
    assert!(matches!(
        parse("a COPY 1:2 Trash\r\n"),
        CommandBody::Copy { uid: false, .. }
    ));
    assert!(matches!(
        parse("a UID MOVE 5,3:1 Trash\r\n"),
        CommandBody::Move { uid: true, .. }
    ));
    assert!(matches!(
        parse("a UID EXPUNGE 3:*\r\n"),
        CommandBody::Expunge { uids: Some(_) }
    ));
    assert!(matches!(
        parse("a COPY $ Trash\r\n"),
        CommandBody::Copy {
            set: SequenceSet::Saved,
            ..
        }
    ));
}

#[test]
fn search_sort_thread() {
    let CommandBody::Search {
        uid,
        charset,
        returns,
        key,
    } = parse(
        "a UID SEARCH RETURN (MIN COUNT SAVE) CHARSET utf-8 OR (FROM \"al ice\" SINCE 1-Feb-1994) NOT HEADER X-Y z MODSEQ \"/flags/\\\\seen\" all 7 LARGER 10 1:*\r\n",
    )
    else {
        panic!()
    };
    assert!(uid);
    assert_eq!(charset.as_deref(), Some("UTF-8"));
    assert_eq!(
        returns,
        Some(vec![
            SearchReturn::Min,
            SearchReturn::Count,
            SearchReturn::Save
        ])
    );
    let SearchKey::And(keys) = key else { panic!() };
    assert!(matches!(&keys[0], SearchKey::Or(a, _) if matches!(**a, SearchKey::And(_))));
    assert_eq!(keys[1], SearchKey::ModSeq(7));
    assert_eq!(keys[2], SearchKey::Larger(10));
    assert!(matches!(keys[3], SearchKey::Sequence(_)));
    for k in [
        "ALL",
        "ANSWERED",
        "BCC x",
        "BEFORE \"1-Jan-2000\"",
        "BODY x",
        "CC x",
        "DELETED",
        "DRAFT",
        "FLAGGED",
        "KEYWORD $x",
        "NEW",
        "OLD",
        "ON 1-Jan-2000",
        "RECENT",
        "SEEN",
        "SENTBEFORE 1-Jan-2000",
        "SENTON 1-Jan-2000",
        "SENTSINCE 1-Jan-2000",
        "SMALLER 5",
        "SUBJECT {3}\r\nabc",
        "TEXT x",
        "TO x",
        "UID 1:5",
        "UNANSWERED",
        "UNDELETED",
        "UNDRAFT",
        "UNFLAGGED",
        "UNKEYWORD $x",
        "UNSEEN",
        "$",
        "OLDER 60",
        "YOUNGER 60",
    ] {
        parse(&format!("a SEARCH {k}\r\n"));
    }
    let CommandBody::Sort { criteria, key, .. } =
        parse("a SORT (REVERSE DATE SUBJECT) UTF-8 ALL\r\n")
    else {
        panic!()
    };
    assert!(criteria[0].reverse && !criteria[1].reverse && key == SearchKey::All);
    let CommandBody::Thread { algorithm, .. } =
        parse("a UID THREAD ORDEREDSUBJECT US-ASCII SEEN\r\n")
    else {
        panic!()
    };
    assert_eq!(algorithm, ThreadAlgorithm::OrderedSubject);
    assert!(matches!(
        error(b"a SEARCH BEFORE 1-Foo-2000\r\n").kind,
        ErrorKind::Syntax(_)
    ));
    assert!(matches!(
        error(b"a SORT () UTF-8 ALL\r\n").kind,
        ErrorKind::Syntax(_)
    ));
}

#[test]
fn quota_and_acl() {
    assert_eq!(
        parse("a GETQUOTA \"\"\r\n"),
        CommandBody::GetQuota(String::new())
    );
    assert!(matches!(
        parse("a GETQUOTAROOT INBOX\r\n"),
        CommandBody::GetQuotaRoot(_)
    ));
    assert_eq!(
        parse("a SETQUOTA \"\" (storage 512 MESSAGE 1000)\r\n"),
        CommandBody::SetQuota {
            root: String::new(),
            limits: vec![("STORAGE".into(), 512), ("MESSAGE".into(), 1000)]
        }
    );
    assert!(matches!(
        parse("a GETACL INBOX\r\n"),
        CommandBody::GetAcl(_)
    ));
    assert!(
        matches!(parse("a SETACL INBOX bob -w\r\n"), CommandBody::SetAcl { rights, .. } if rights == "-w")
    );
    assert!(matches!(
        parse("a DELETEACL INBOX bob\r\n"),
        CommandBody::DeleteAcl { .. }
    ));
    assert!(matches!(
        parse("a LISTRIGHTS INBOX bob\r\n"),
        CommandBody::ListRights { .. }
    ));
    assert!(matches!(
        parse("a MYRIGHTS INBOX\r\n"),
        CommandBody::MyRights(_)
    ));
}

#[test]
fn sequence_sets_resolve() {
    let CommandBody::Fetch { set, .. } = parse("a FETCH 1:* FLAGS\r\n") else {
        panic!()
    };
    assert_eq!(set.ranges(0), vec![(0, 1)]);
    assert!(!set.contains(5, 3));
    assert!(set.contains(3, 3));
    assert!(set.has_star());
    let CommandBody::Fetch { set, .. } = parse("a FETCH 7:3,*,9 FLAGS\r\n") else {
        panic!()
    };
    assert_eq!(set.ranges(20), vec![(3, 7), (20, 20), (9, 9)]);
    assert_eq!(
        SequenceSet::from_numbers([5, 1, 2, 3, 9]).to_string(),
        "1:3,5,9"
    );
    assert_eq!(set.to_string(), "7:3,*,9");
}

#[test]
fn incremental_literals() {
    let o = opts();
    assert_eq!(parse_command(b"a LOGIN al", &o), Ok(Parsed::Incomplete));
    assert_eq!(
        parse_command(b"a LOGIN {5}\r\n", &o),
        Ok(Parsed::NeedLiteral {
            size: 5,
            synchronizing: true,
            offset: 13
        })
    );
    assert_eq!(
        parse_command(b"a LOGIN {5}\r\nali", &o),
        Ok(Parsed::NeedLiteral {
            size: 5,
            synchronizing: true,
            offset: 13
        })
    );
    assert_eq!(
        parse_command(b"a LOGIN {5+}\r\nalice {3}\r\n", &o),
        Ok(Parsed::NeedLiteral {
            size: 3,
            synchronizing: true,
            offset: 25
        })
    );
    assert_eq!(
        parse_command(b"a LOGIN {5}\r\nalice pw", &o),
        Ok(Parsed::Incomplete)
    );
}

#[test]
fn pipelined_commands_are_consumed_one_at_a_time() {
    let buf = b"a NOOP\r\nb FROB\r\nc NOOP\r\n";
    let Ok(Parsed::Complete { consumed, .. }) = parse_command(buf, &opts()) else {
        panic!()
    };
    assert_eq!(consumed, 8);
    let e = parse_command(&buf[8..], &opts()).expect_err("FROB");
    assert_eq!((e.tag.as_deref(), e.consumed), (Some("b"), Some(8)));
    assert_eq!(e.response(), b"b BAD unknown command\r\n");
    assert!(matches!(
        parse_command(&buf[16..], &opts()),
        Ok(Parsed::Complete { .. })
    ));
}

#[test]
fn bad_input_cases() {
    // A 100 MB literal announcement is refused before any of it is read.
    let e = error(b"a1 APPEND INBOX {104857600}\r\n");
    assert_eq!(e.tag.as_deref(), Some("a1"));
    assert!(matches!(
        e.kind,
        ErrorKind::LiteralTooLarge {
            synchronizing: true,
            ..
        }
    ));
    assert_eq!(e.consumed, Some(29));
    assert!(e.response().starts_with(b"a1 BAD [TOOBIG]"));
    // Non-synchronizing: the bytes are coming, the stream cannot recover.
    assert_eq!(error(b"a1 APPEND INBOX {104857600+}\r\n").consumed, None);
    // Unbalanced literal: announced 5, sent 3, then the line goes on.
    // Unbalanced literal: announced 3, sent 5, so the command is garbled.
    let e = error(b"a2 LOGIN {3}\r\nalice pw\r\n");
    assert_eq!((e.tag.as_deref(), e.consumed), (Some("a2"), Some(24)));
    // Announced 5, only 3 came: wait for the rest (bounded by max_literal).
    assert!(matches!(
        parse_command(b"a2 LOGIN {5}\r\nali", &opts()),
        Ok(Parsed::NeedLiteral { size: 5, .. })
    ));
    // Unbalanced parentheses.
    assert!(matches!(
        error(b"a2 SEARCH (ALL))\r\n").kind,
        ErrorKind::Syntax(_)
    ));
    assert!(matches!(
        error(b"a2 SEARCH ((ALL)\r\n").kind,
        ErrorKind::Syntax(_)
    ));
    // Deep nesting is BAD, not a stack overflow.
    let deep = format!(
        "a3 SEARCH {}ALL{}\r\n",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    let e = parse_command(
        deep.as_bytes(),
        &ParseOptions {
            max_line: 1 << 20,
            ..opts()
        },
    )
    .expect_err("deep");
    assert_eq!(e.kind, ErrorKind::TooDeep);
    let nots = format!("a3 SEARCH {}ALL\r\n", "NOT ".repeat(100_000));
    let e = parse_command(
        nots.as_bytes(),
        &ParseOptions {
            max_line: 1 << 20,
            ..opts()
        },
    )
    .expect_err("nots");
    assert_eq!(e.kind, ErrorKind::TooDeep);
    // Invalid names in either mode.
    assert!(matches!(
        error(b"a4 SELECT &Jjo\r\n").kind,
        ErrorKind::BadMailboxName(_)
    ));
    assert!(matches!(
        error("a4 SELECT caf\u{e9}\r\n".as_bytes()).kind,
        ErrorKind::Syntax(_) | ErrorKind::BadMailboxName(_)
    ));
    let utf8 = ParseOptions {
        utf8_names: true,
        ..opts()
    };
    assert!(parse_command(b"a4 SELECT \"\xff\xfe\"\r\n", &utf8).is_err());
    assert!(
        matches!(parse_with("a4 SELECT \"caf\u{e9}\"\r\n".as_bytes(), &utf8), CommandBody::Select { mailbox, .. } if mailbox.0 == "caf\u{e9}")
    );
    // Line too long: no CRLF within the limit.
    let small = ParseOptions {
        max_line: 100,
        ..opts()
    };
    let e = parse_command(&[b'a'; 500], &small).expect_err("long");
    assert_eq!((e.kind, e.consumed), (ErrorKind::LineTooLong, None));
    // No tag, bad tag, empty line.
    assert_eq!(error(b"\r\n").tag, None);
    assert_eq!(error(b"+ x\r\n").kind, ErrorKind::BadTag);
    assert_eq!(error(b"a5\r\n").tag.as_deref(), Some("a5"));
    // `1:*` parses; whether it matches anything is the server's business.
    assert!(matches!(
        parse("a6 FETCH 1:* FLAGS\r\n"),
        CommandBody::Fetch { .. }
    ));
    // Zero is not a message number.
    assert!(matches!(
        error(b"a7 FETCH 0 FLAGS\r\n").kind,
        ErrorKind::Syntax(_)
    ));
}

#[test]
fn deep_search_with_server_limits() {
    let o = ParseOptions {
        max_depth: 32,
        ..opts()
    };
    let deep = format!("b3 SEARCH {}ALL{}\r\n", "(".repeat(5000), ")".repeat(5000));
    let e = parse_command(deep.as_bytes(), &o).expect_err("deep");
    assert_eq!(e.kind, ErrorKind::TooDeep);
}
