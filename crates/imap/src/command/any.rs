//! CAPABILITY, LOGOUT, ID (RFC 2971), ENABLE (RFC 5161); NAMESPACE lives
//! in `namespace.rs`. NOOP and CHECK are answered in the dispatcher: the
//! mailbox updates they exist for are sent before every command anyway.

use mail_imap_proto::response::{Code, capability_line};

use crate::session::{Flow, Session};

impl Session {
    pub(crate) fn capability(&mut self, tag: &str) -> Flow {
        let caps = self.capabilities();
        self.push(&capability_line(&caps));
        self.ok(tag, None, "CAPABILITY completed")
    }

    pub(crate) fn logout(&mut self, tag: &str) -> Flow {
        self.bye("Logging out");
        self.ok(tag, None, "LOGOUT completed");
        self.state = crate::session::State::Logout;
        Flow::Close
    }

    pub(crate) fn id(&mut self, tag: &str) -> Flow {
        let version = env!("CARGO_PKG_VERSION");
        self.push(format!("* ID (\"name\" \"Tiermail\" \"version\" \"{version}\")\r\n").as_bytes());
        self.ok(tag, None, "ID completed")
    }

    pub(crate) async fn enable(&mut self, tag: &str, caps: &[String]) -> Flow {
        let mut enabled = Vec::new();
        let mut highestmodseq = Vec::new();
        for c in caps {
            let on = match c.as_str() {
                "CONDSTORE" => {
                    self.enable_condstore_into(&mut highestmodseq).await;
                    true
                }
                "QRESYNC" => {
                    self.enabled.qresync = true;
                    self.enable_condstore_into(&mut highestmodseq).await;
                    true
                }
                "UTF8=ACCEPT" => {
                    self.enabled.utf8 = true;
                    true
                }
                "IMAP4REV2" => {
                    self.enabled.rev2 = true;
                    true
                }
                _ => false,
            };
            if on {
                enabled.push(if c == "IMAP4REV2" {
                    "IMAP4rev2"
                } else {
                    c.as_str()
                });
            }
        }
        let mut line = String::from("* ENABLED");
        for c in enabled {
            line.push(' ');
            line.push_str(c);
        }
        line.push_str("\r\n");
        self.push(line.as_bytes());
        // After the ENABLED line that says CONDSTORE is on (RFC 7162 3.1).
        self.push(&highestmodseq);
        self.ok(tag, None, "ENABLE completed")
    }

    /// [`Session::enable_condstore`] with its untagged OK kept apart.
    async fn enable_condstore_into(&mut self, out: &mut Vec<u8>) {
        let mark = self.out.len();
        self.enable_condstore().await;
        out.extend(self.out.drain(mark..));
    }

    /// Tagged OK after login, with the new capabilities (RFC 3501 6.2.3).
    pub(crate) fn login_ok(&mut self, tag: &str) -> Flow {
        let caps = self.capabilities();
        self.ok(tag, Some(Code::Capability(caps)), "Logged in")
    }
}
