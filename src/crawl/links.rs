//! Finding the links of an HTML page while its body streams by (`--crawl`), with
//! Cloudflare's streaming parser `lol_html`: a page of any size costs constant memory, and
//! the body is read once, for counting, saving and links together.
//!
//! Links are `a`/`area` `href` and `frame`/`iframe` `src`; with `--page-requisites` also
//! `img` and `script` `src` and `link` `href` for stylesheets and icons. Their character
//! references are decoded as HTML decodes attribute values (`&amp;` is `&`, and `&copy=2`
//! stays as written: a legacy name without `;` before `=` or an alphanumeric is not a
//! reference in an attribute), by `htmlize`; lol_html hands values out as written. They
//! are resolved against the page's URL, or its first `<base href>`, and normalised by
//! [`normalize`].
//!
//! Memory: a page gives at most [`MAX_LINKS_PER_PAGE`] links and [`MAX_LINK_BYTES_PER_PAGE`]
//! bytes of them, each at most [`MAX_LINK_LEN`]; the others are counted as dropped.

use std::cell::RefCell;
use std::rc::Rc;

use lol_html::{HtmlRewriter, MemorySettings, Settings, element};
use url::Url;

/// Links kept from one page at most; the rest are counted in `dropped`.
pub(crate) const MAX_LINKS_PER_PAGE: usize = 10_000;

/// Bytes of links kept from one page at most (about 100 bytes a link, for the most links).
pub(crate) const MAX_LINK_BYTES_PER_PAGE: usize = 1 << 20;

/// A link longer than this (in bytes, decoded) is dropped: the longest URL the sitemaps
/// protocol and many servers accept.
pub(crate) const MAX_LINK_LEN: usize = 2048;

/// The parser's working memory at most; a page that needs more (a tag of megabytes) stops
/// giving links, and the body is still read whole.
const PARSER_MEMORY: usize = 1024 * 1024;

/// Which elements give links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LinkKinds {
    /// Also images, scripts, stylesheets and icons (`--page-requisites`).
    pub(crate) requisites: bool,
}

/// What the element handlers collect.
#[derive(Default)]
struct Found {
    /// The first `<base href>`, decoded.
    base: Option<String>,
    /// The links, decoded, in document order.
    raw: Vec<String>,
    /// Their bytes.
    bytes: usize,
    /// Links not kept (over the per-page caps or too long).
    dropped: u64,
}

impl Found {
    fn push(&mut self, written: &str) {
        let link = attribute_value(written);
        if self.raw.len() >= MAX_LINKS_PER_PAGE
            || link.len() > MAX_LINK_LEN
            || self.bytes + link.len() > MAX_LINK_BYTES_PER_PAGE
        {
            self.dropped += 1;
        } else {
            self.bytes += link.len();
            self.raw.push(link);
        }
    }
}

/// An attribute's value as HTML reads it: character references decoded by the rule for
/// attribute values, surrounding white space trimmed.
fn attribute_value(written: &str) -> String {
    let written = written.trim();
    if written.contains('&') {
        htmlize::unescape_attribute(written).trim().to_string()
    } else {
        written.to_string()
    }
}

/// A page's links, absolute and normalised, and how many it had that were not kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PageLinks {
    /// The links, without duplicates, in document order.
    pub(crate) links: Vec<String>,
    /// Links dropped: over [`MAX_LINKS_PER_PAGE`] or [`MAX_LINK_BYTES_PER_PAGE`], or
    /// longer than [`MAX_LINK_LEN`].
    pub(crate) dropped: u64,
}

/// The parser, its output thrown away.
type Parser = HtmlRewriter<'static, fn(&[u8])>;

/// Finds the links of one page as its bytes are written to it.
pub(crate) struct LinkExtractor {
    /// `None` once the parser failed (then no more links are looked for).
    rewriter: Option<Parser>,
    found: Rc<RefCell<Found>>,
}

impl std::fmt::Debug for LinkExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkExtractor")
            .field("links", &self.found.borrow().raw.len())
            .finish()
    }
}

/// Discards the parser's output: only the handlers matter.
fn discard(_: &[u8]) {}

impl LinkExtractor {
    /// An extractor for the elements `kinds` selects.
    pub fn new(kinds: LinkKinds) -> Self {
        let found = Rc::new(RefCell::new(Found::default()));
        let attr = |name: &'static str| {
            let found = Rc::clone(&found);
            move |el: &mut lol_html::html_content::Element<'_, '_>| {
                if let Some(value) = el.get_attribute(name) {
                    found.borrow_mut().push(&value);
                }
                Ok(())
            }
        };
        let base = {
            let found = Rc::clone(&found);
            move |el: &mut lol_html::html_content::Element<'_, '_>| {
                let mut found = found.borrow_mut();
                if found.base.is_none() {
                    found.base = el
                        .get_attribute("href")
                        .map(|h| attribute_value(&h))
                        .filter(|h| h.len() <= MAX_LINK_LEN);
                }
                Ok(())
            }
        };
        let mut settings = Settings::new()
            .append_element_content_handler(element!("base[href]", base))
            .append_element_content_handler(element!("a[href], area[href]", attr("href")))
            .append_element_content_handler(element!("frame[src], iframe[src]", attr("src")))
            .with_memory_settings(
                MemorySettings::new().with_max_allowed_memory_usage(PARSER_MEMORY),
            );
        if kinds.requisites {
            let stylesheet_or_icon = {
                let found = Rc::clone(&found);
                move |el: &mut lol_html::html_content::Element<'_, '_>| {
                    let rel = attribute_value(&el.get_attribute("rel").unwrap_or_default())
                        .to_ascii_lowercase();
                    if rel
                        .split_ascii_whitespace()
                        .any(|r| matches!(r, "stylesheet" | "icon" | "apple-touch-icon"))
                        && let Some(href) = el.get_attribute("href")
                    {
                        found.borrow_mut().push(&href);
                    }
                    Ok(())
                }
            };
            settings = settings
                .append_element_content_handler(element!("img[src], script[src]", attr("src")))
                .append_element_content_handler(element!("link[href]", stylesheet_or_icon));
        }
        LinkExtractor {
            rewriter: Some(HtmlRewriter::new(settings, discard as fn(&[u8]))),
            found,
        }
    }

    /// Parses the next bytes of the page.
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        if let Some(rewriter) = self.rewriter.as_mut()
            && rewriter.write(bytes).is_err()
        {
            self.rewriter = None;
        }
    }

    /// Ends the page: its links, absolute, normalised, without duplicates, in document
    /// order; `page` is the URL the body came from (after redirects).
    pub(crate) fn finish(mut self, page: &Url) -> PageLinks {
        if let Some(rewriter) = self.rewriter.take() {
            let _ = rewriter.end();
        }
        let found = std::mem::take(&mut *self.found.borrow_mut());
        let base = found
            .base
            .as_deref()
            .and_then(|b| page.join(b).ok())
            .unwrap_or_else(|| page.clone());
        let mut seen = std::collections::HashSet::new();
        let links = found
            .raw
            .iter()
            .filter_map(|raw| resolve(&base, raw))
            .filter(|link| link.len() <= MAX_LINK_LEN && seen.insert(link.clone()))
            .collect();
        PageLinks {
            links,
            dropped: found.dropped,
        }
    }
}

/// `raw` resolved against `base`, if that makes an http(s) URL, normalised.
pub(crate) fn resolve(base: &Url, raw: &str) -> Option<String> {
    let mut url = base.join(raw).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    normalize(&mut url);
    Some(url.into())
}

/// The form a URL is known by in a crawl, so each page is fetched once: the `url` crate
/// already lower-cases the scheme and host and drops a default port; here the fragment is
/// dropped, and in the path and query percent-escapes of unreserved characters
/// (`A-Z a-z 0-9 - . _ ~`) are decoded and the others upper-cased (RFC 3986, 6.2.2).
pub(crate) fn normalize(url: &mut Url) {
    url.set_fragment(None);
    let path = normalize_escapes(url.path());
    if path != url.path() {
        url.set_path(&path);
    }
    if let Some(query) = url.query() {
        let normal = normalize_escapes(query);
        if normal != query {
            url.set_query(Some(&normal));
        }
    }
}

/// Decodes `%XX` of unreserved characters and upper-cases the hex of the others.
pub(crate) fn normalize_escapes(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
        if let (b'%', Some(hex)) = (bytes[i], escape) {
            let hex = std::str::from_utf8(hex).expect("ASCII hex digits");
            let b = u8::from_str_radix(hex, 16).expect("two hex digits");
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(b));
            } else {
                out.push('%');
                out.push_str(&hex.to_ascii_uppercase());
            }
            i += 3;
            continue;
        }
        let c = s[i..].chars().next().expect("within the string");
        out.push(c);
        i += c.len_utf8();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(html: &str, page: &str, requisites: bool) -> Vec<String> {
        let mut x = LinkExtractor::new(LinkKinds { requisites });
        // Byte by byte: a tag split across chunks is still found.
        for b in html.as_bytes() {
            x.write(std::slice::from_ref(b));
        }
        x.finish(&Url::parse(page).unwrap()).links
    }

    #[test]
    fn links_are_found_resolved_and_normalised_across_chunks() {
        let html = r##"<html><head><base href="/dir/"></head><body>
            <a href="a.html#top">a</a> <a href="a.html">again</a>
            <a href="HTTP://Example.COM:80/%7euser/%2fx?q=%aa">abs</a>
            <area href="../up"><iframe src="frame"></iframe><frame src="//other.test/f">
            <a href="mailto:x@y">mail</a><a href="javascript:void(0)">js</a><a>none</a>
            <img src="i.png"><script src="s.js"></script>
            <link rel="stylesheet" href="c.css"><link rel="alternate" href="feed">
            </body></html>"##;
        assert_eq!(
            links(html, "http://h.test/x/page", false),
            [
                "http://h.test/dir/a.html",
                "http://example.com/~user/%2Fx?q=%AA",
                "http://h.test/up",
                "http://h.test/dir/frame",
                "http://other.test/f",
            ]
        );
        let with = links(html, "http://h.test/x/page", true);
        assert!(with.contains(&"http://h.test/dir/i.png".to_string()));
        assert!(with.contains(&"http://h.test/dir/s.js".to_string()));
        assert!(with.contains(&"http://h.test/dir/c.css".to_string()));
        assert!(!with.contains(&"http://h.test/dir/feed".to_string()));
    }

    #[test]
    fn a_page_of_many_links_keeps_the_first_ones_and_counts_the_rest() {
        let html = "<a href=x></a>\n".repeat(MAX_LINKS_PER_PAGE + 10);
        let mut x = LinkExtractor::new(LinkKinds { requisites: false });
        x.write(html.as_bytes());
        assert_eq!(x.found.borrow().dropped, 10);
        let found = x.finish(&Url::parse("http://h.test/").unwrap());
        assert_eq!((found.links.len(), found.dropped), (1, 10));
    }

    #[test]
    fn long_links_and_a_page_of_many_long_links_stay_within_their_bytes() {
        let long = format!("<a href=\"/{}\"></a>", "y".repeat(MAX_LINK_LEN));
        let mut x = LinkExtractor::new(LinkKinds { requisites: false });
        x.write(long.as_bytes());
        for i in 0..2000 {
            x.write(format!("<a href=\"/{i}/{}\"></a>", "z".repeat(1000)).as_bytes());
        }
        let found = x.finish(&Url::parse("http://h.test/").unwrap());
        let bytes: usize = found.links.iter().map(String::len).sum();
        assert!(
            bytes <= MAX_LINK_BYTES_PER_PAGE + found.links.len() * 20,
            "{bytes}"
        );
        assert!(found.links.len() < 1100, "{}", found.links.len());
        assert_eq!(found.links.len() as u64 + found.dropped, 2001);
    }

    #[test]
    fn character_references_are_decoded_as_in_an_attribute_value() {
        let html = r#"<base href="/d&#x2F;"><a href="/a.html?x=1&amp;y=2"></a>
            <a href="p?a=1&copy=2"></a><a href="q?lt&gt"></a><a href="n&#65&#x42;"></a>
            <a href="e?q=&#128;"></a><a href="&#x2F;abs"></a>"#;
        assert_eq!(
            links(html, "http://h.test/", false),
            [
                "http://h.test/a.html?x=1&y=2",
                "http://h.test/d/p?a=1&copy=2",
                "http://h.test/d/q?lt%3E",
                "http://h.test/d/nAB",
                "http://h.test/d/e?q=%E2%82%AC",
                "http://h.test/abs",
            ]
        );
    }

    #[test]
    fn escapes_are_normalised_as_rfc_3986_says() {
        assert_eq!(normalize_escapes("%41%2f%2F%7e%zz%"), "A%2F%2F~%zz%");
        assert_eq!(normalize_escapes("é%c3%a9"), "é%C3%A9");
    }
}
