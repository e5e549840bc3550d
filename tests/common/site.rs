//! The site the crawl tests crawl, served by the mock server under `/site/`: [`PAGES`]
//! generated pages linking in cycles, with relative and absolute links, `<base href>`,
//! fragments, query strings in two spellings, an upper-case scheme, a link to another
//! loopback host, pages robots.txt disallows, a page that is not HTML (whose text holds a
//! link), a broken link and a redirect. [`links`] is the same graph as the tests expect it:
//! absolute, normalised URLs.

/// Numbered pages: `/site/0.html` .. `/site/{PAGES-1}.html`.
pub const PAGES: usize = 300;

/// What `/robots.txt` says unless a test sets another.
pub const ROBOTS: &str = "User-agent: *\nDisallow: /site/private/\n";

/// Every page page `n` links to, as the crawl should see them: absolute, normalised,
/// fragments dropped, in document order (repeats included). `base` is the server's
/// `http://127.0.0.1:PORT`.
pub fn links(n: usize, base: &str) -> Vec<String> {
    let page = |i: usize| format!("{base}/site/{}.html", i % PAGES);
    let mut out = vec![
        page(n + 1),
        page(2 * n + 1),
        format!("{base}/site/search?q=1"),
        page(n + 5),
    ];
    if n.is_multiple_of(10) {
        out.push(format!("{base}/site/sub/x{n}.html"));
    }
    if n.is_multiple_of(50) {
        out.push(format!("{base}/site/private/p{n}.html"));
    }
    match n {
        3 => out.push("http://127.0.0.2:9/site/0.html".to_string()),
        4 => out.push(format!("{base}/site/data.bin")),
        5 => out.push(format!("{base}/site/missing.html")),
        6 => out.push(format!("{base}/site/moved")),
        _ => {}
    }
    out
}

/// The HTML of page `n`, its links written in as many ways as the site has.
fn page_html(n: usize, base: &str) -> String {
    let authority = base.trim_start_matches("http://");
    let mut html = String::from("<!doctype html><html><head><title>page</title>");
    if n.is_multiple_of(10) {
        html.push_str("<base href=\"/site/sub/\">");
    }
    html.push_str("</head><body>\n");
    // With a <base>, relative links resolve against /site/sub/: write those absolute.
    if n.is_multiple_of(10) {
        html.push_str(&format!(
            "<a href=\"/site/{}.html\">next</a>\n",
            (n + 1) % PAGES
        ));
    } else {
        html.push_str(&format!("<a href=\"{}.html\">next</a>\n", (n + 1) % PAGES));
    }
    html.push_str(&format!(
        "<a href=\"/site/{}.html#part\">jump</a>\n",
        (2 * n + 1) % PAGES
    ));
    // The same search page, once spelt with an escaped '1' (%31): one URL after all.
    let q = if n.is_multiple_of(2) { "q=1" } else { "q=%31" };
    html.push_str(&format!("<a href=\"{base}/site/search?{q}\">search</a>\n"));
    html.push_str(&format!(
        "<a href=\"HTTP://{authority}/site/{}.html\">upper</a>\n",
        (n + 5) % PAGES
    ));
    if n.is_multiple_of(10) {
        html.push_str(&format!("<a href=\"x{n}.html\">under base</a>\n"));
    }
    if n.is_multiple_of(50) {
        html.push_str(&format!(
            "<a href=\"/site/private/p{n}.html\">private</a>\n"
        ));
    }
    match n {
        3 => html.push_str("<a href=\"http://127.0.0.2:9/site/0.html\">elsewhere</a>\n"),
        4 => html.push_str("<a href=\"/site/data.bin\">data</a>\n"),
        5 => html.push_str("<a href=\"/site/missing.html\">broken</a>\n"),
        6 => html.push_str("<a href=\"/site/moved\">moved</a>\n"),
        _ => {}
    }
    html.push_str("<a href=\"mailto:someone@example.com\">mail</a></body></html>\n");
    html
}

/// The answer to `path` under `/site/` (or `/robots.txt`): status, extra headers, body.
pub fn answer(path: &str, base: &str, robots: &str) -> (u16, String, Vec<u8>) {
    let html = "Content-Type: text/html; charset=utf-8\r\n".to_string();
    if path == "/robots.txt" {
        return (
            200,
            "Content-Type: text/plain\r\n".into(),
            robots.as_bytes().to_vec(),
        );
    }
    let Some(rest) = path.strip_prefix("/site/") else {
        return (404, String::new(), b"not found".to_vec());
    };
    let leaf = "<html><body>a leaf page</body></html>".as_bytes().to_vec();
    match rest {
        "data.bin" => (
            200,
            "Content-Type: application/octet-stream\r\n".into(),
            b"<a href=\"/site/hidden.html\">not a link: this is not HTML</a>".to_vec(),
        ),
        "moved" => (302, "Location: /site/target.html\r\n".into(), Vec::new()),
        "search" | "target.html" => (200, html, leaf),
        r if r.starts_with("sub/") || r.starts_with("private/") => (200, html, leaf),
        r => match r
            .strip_suffix(".html")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) if n < PAGES => (200, html, page_html(n, base).into_bytes()),
            _ => (404, String::new(), b"not found".to_vec()),
        },
    }
}
