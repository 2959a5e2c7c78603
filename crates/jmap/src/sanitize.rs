//! HTML mail made safe to show in the web client, with `ammonia` (an
//! html5ever-based allow-list sanitiser), never a hand-written filter.
//!
//! What is removed: scripts and their content, `<style>` (CSS can fetch
//! and, in old engines, run code), `style` attributes, event handlers
//! (`on*`), forms and inputs, frames, objects, SVG and MathML, every URL
//! scheme except `http`, `https`, `mailto` and `cid` (so `javascript:`
//! and `data:` go). Links get `rel="noopener noreferrer"` and open in a
//! new browsing context.
//!
//! Images: `cid:` sources become the part's download URL on this server
//! (relative, so they work through the MEM); `http(s)` sources are dropped
//! unless the client asked for them with Email/get's `allowRemoteImages`
//! (a Tiermail extension the web client sets after the user clicks "show
//! images"). The caller learns whether anything was blocked.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

/// Sanitises `html`; returns the safe HTML and whether remote images were
/// removed.
pub fn sanitize_html(
    html: &str,
    allow_remote_images: bool,
    cids: &HashMap<String, String>,
) -> (String, bool) {
    let blocked = std::sync::Arc::new(AtomicBool::new(false));
    let flag = blocked.clone();
    let cids = cids.clone();
    let mut b = ammonia::Builder::default();
    b.url_schemes(HashSet::from(["http", "https", "mailto", "cid"]))
        .link_rel(Some("noopener noreferrer"))
        .add_tag_attributes("a", &["target"])
        .set_tag_attribute_value("a", "target", "_blank")
        .add_tag_attributes("img", &["width", "height"])
        .add_tag_attributes("td", &["align", "valign", "width", "colspan", "rowspan"])
        .add_tag_attributes("table", &["width", "cellpadding", "cellspacing", "border"])
        .add_tag_attributes("font", &["color", "size", "face"])
        .add_tags(&["font", "center"])
        .rm_tags(&["form", "input", "button", "select", "textarea"]);
    b.attribute_filter(move |element, attribute, value| {
        if element == "img" && attribute == "src" {
            let lower = value.trim().to_ascii_lowercase();
            if let Some(cid) = lower.strip_prefix("cid:") {
                let orig = &value.trim()[4..];
                return cids
                    .get(orig)
                    .or_else(|| cids.get(cid))
                    .map(|u| u.clone().into());
            }
            if !allow_remote_images {
                flag.store(true, Ordering::Relaxed);
                return None;
            }
        }
        if attribute == "src" && element != "img" {
            return None;
        }
        Some(value.into())
    });
    let cleaned = b.clean(html).to_string();
    (cleaned, blocked.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_html_is_defused() {
        let cids = HashMap::from([(
            "logo@x".to_string(),
            "/jmap/download/a/b_2/logo.png?accept=image%2Fpng".to_string(),
        )]);
        let html = r#"<p onclick="steal()">Hi<script>alert(1)</script></p>
            <a href="javascript:alert(1)">x</a><a href="https://example.org/">ok</a>
            <img src="https://tracker.example/p.gif"><img src="cid:logo@x">
            <div style="background:url(https://t.example/x)">s</div>
            <svg><script>alert(2)</script></svg><form action="https://x"><input name=a></form>
            <iframe src="https://x"></iframe><style>body{color:red}</style>"#;
        let (out, blocked) = sanitize_html(html, false, &cids);
        assert!(blocked);
        for bad in [
            "script",
            "onclick",
            "javascript:",
            "tracker",
            "style",
            "<svg",
            "<form",
            "<input",
            "iframe",
            "t.example",
        ] {
            assert!(!out.contains(bad), "{bad} left in {out}");
        }
        assert!(out.contains("/jmap/download/a/b_2/logo.png"), "{out}");
        assert!(
            out.contains("https://example.org/") && out.contains("noopener"),
            "{out}"
        );
        let (out, blocked) = sanitize_html(r#"<img src="https://img.example/a.png">"#, true, &cids);
        assert!(!blocked && out.contains("img.example"), "{out}");
    }
}
