//! `--sitemaps`: the sitemaps a host's robots.txt names (`Sitemap:` lines), read as the
//! sitemaps protocol (sitemaps.org) describes them: an XML `<urlset>` of `<url><loc>`
//! pages, an XML `<sitemapindex>` of `<sitemap><loc>` sitemaps, or plain text with one
//! URL per line; gzipped or not. A server's sitemap is untrusted: each is read up to
//! [`MAX_SITEMAP_BYTES`] (decoded) and [`MAX_SITEMAP_URLS`] URLs, as the protocol bounds
//! them, a URL longer than [`MAX_LINK_LEN`] is dropped, and an index is followed one level
//! deep, [`MAX_SITEMAPS_PER_HOST`] sitemaps per host at most.

use std::io::Read as _;

use quick_xml::events::Event;

use super::links::MAX_LINK_LEN;

/// The most of one sitemap read, decoded (the protocol's limit).
pub(crate) const MAX_SITEMAP_BYTES: u64 = 50 * 1024 * 1024;

/// The most URLs taken from one sitemap (the protocol's limit).
pub(crate) const MAX_SITEMAP_URLS: usize = 50_000;

/// The most sitemaps read for one host, those its index names included.
pub(crate) const MAX_SITEMAPS_PER_HOST: usize = 50;

/// What a sitemap lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Sitemap {
    /// Pages (`<urlset>`, or plain text).
    Pages(Vec<String>),
    /// Other sitemaps (`<sitemapindex>`).
    Index(Vec<String>),
}

/// Reads a sitemap's body (gzipped or not).
///
/// # Errors
/// It is larger than [`MAX_SITEMAP_BYTES`] decoded, not gzip it claims to be, or not a
/// sitemap; the message says which.
pub(crate) fn parse(body: &[u8]) -> Result<Sitemap, String> {
    let decoded;
    let text = if body.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(body)
            .take(MAX_SITEMAP_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| format!("not gzip: {e}"))?;
        if out.len() as u64 > MAX_SITEMAP_BYTES {
            return Err("larger than 50 MiB decoded".to_string());
        }
        decoded = out;
        &decoded[..]
    } else {
        body
    };
    let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
    match text.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'<') => parse_xml(text),
        Some(_) => Ok(Sitemap::Pages(parse_text(text))),
        None => Ok(Sitemap::Pages(Vec::new())),
    }
}

/// A text sitemap: one URL per line; lines that are not http(s) URLs are skipped.
fn parse_text(text: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(text)
        .lines()
        .map(str::trim)
        .filter(|l| {
            l.len() <= MAX_LINK_LEN && (l.starts_with("http://") || l.starts_with("https://"))
        })
        .take(MAX_SITEMAP_URLS)
        .map(str::to_string)
        .collect()
}

/// An XML sitemap: the `<loc>` of each `<url>` of a `<urlset>`, or of each `<sitemap>`
/// of a `<sitemapindex>` (namespace prefixes aside). What was read before malformed XML
/// is kept.
fn parse_xml(text: &[u8]) -> Result<Sitemap, String> {
    let mut reader = quick_xml::Reader::from_reader(text);
    reader.config_mut().allow_dangling_amp = true;
    let mut buf = Vec::new();
    // The root element's name once known; whether a `<loc>` is open, and its text.
    let mut root: Option<bool> = None;
    let (mut in_loc, mut loc, mut too_long) = (false, String::new(), false);
    let mut urls = Vec::new();
    loop {
        let event = match reader.read_event_into(&mut buf) {
            Ok(event) => event,
            Err(_) if root.is_some() => break,
            Err(e) => return Err(format!("not XML: {e}")),
        };
        match event {
            Event::Start(e) => {
                let name = e.local_name();
                match root {
                    None => {
                        root = Some(match name.as_ref() {
                            "urlset" => false,
                            "sitemapindex" => true,
                            _ => return Err("not a sitemap (no <urlset> or <sitemapindex>)".into()),
                        });
                    }
                    Some(_) if name.as_ref() == "loc" => {
                        (in_loc, too_long) = (true, false);
                        loc.clear();
                    }
                    Some(_) => {}
                }
            }
            Event::End(e) if in_loc && e.local_name().as_ref() == "loc" => {
                in_loc = false;
                let url = loc.trim();
                if !too_long && !url.is_empty() {
                    urls.push(url.to_string());
                    if urls.len() == MAX_SITEMAP_URLS {
                        break;
                    }
                }
            }
            Event::Text(t) if in_loc => push_bounded(&mut loc, &t.xml10_content(), &mut too_long),
            Event::CData(t) if in_loc => {
                push_bounded(&mut loc, &t.xml10_content(), &mut too_long);
            }
            Event::GeneralRef(r) if in_loc => {
                let entity = format!("&{};", &*r);
                let resolved = quick_xml::escape::unescape(&entity)
                    .map_or_else(|_| entity.clone(), std::borrow::Cow::into_owned);
                push_bounded(&mut loc, &resolved, &mut too_long);
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    match root {
        Some(true) => Ok(Sitemap::Index(urls)),
        Some(false) => Ok(Sitemap::Pages(urls)),
        None => Err("not a sitemap (no <urlset> or <sitemapindex>)".to_string()),
    }
}

/// Appends `more` to `loc` unless it would pass [`MAX_LINK_LEN`] (then `too_long`).
fn push_bounded(loc: &mut String, more: &str, too_long: &mut bool) {
    if *too_long || loc.len() + more.len() > MAX_LINK_LEN {
        *too_long = true;
        loc.clear();
    } else {
        loc.push_str(more);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_urlset_gives_its_pages_with_entities_resolved() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>http://a.test/1?x=1&amp;y=2</loc><lastmod>2024-01-01</lastmod></url>
  <url><loc> http://a.test/2 </loc></url>
  <url><loc><![CDATA[http://a.test/3]]></loc></url>
</urlset>"#;
        assert_eq!(
            parse(xml).unwrap(),
            Sitemap::Pages(vec![
                "http://a.test/1?x=1&y=2".to_string(),
                "http://a.test/2".to_string(),
                "http://a.test/3".to_string(),
            ])
        );
    }

    #[test]
    fn an_index_gives_its_sitemaps_and_gzip_and_text_are_read() {
        let xml = b"<sm:sitemapindex xmlns:sm='http://www.sitemaps.org/schemas/sitemap/0.9'>\
            <sm:sitemap><sm:loc>http://a.test/s1.xml</sm:loc></sm:sitemap></sm:sitemapindex>";
        assert_eq!(
            parse(xml).unwrap(),
            Sitemap::Index(vec!["http://a.test/s1.xml".to_string()])
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, b"http://a.test/t1\nnot a url\nhttps://a.test/t2\n")
            .unwrap();
        assert_eq!(
            parse(&gz.finish().unwrap()).unwrap(),
            Sitemap::Pages(vec![
                "http://a.test/t1".to_string(),
                "https://a.test/t2".to_string()
            ])
        );
    }

    #[test]
    fn a_hostile_sitemap_costs_what_the_protocol_allows() {
        // A gzip bomb: 60 MiB of zeros in a few kilobytes.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..60 {
            std::io::Write::write_all(&mut gz, &zeros).unwrap();
        }
        let bomb = gz.finish().unwrap();
        assert!(parse(&bomb).unwrap_err().contains("50 MiB"));
        // More URLs than a sitemap may hold, and one over-long URL.
        let mut xml = String::from("<urlset>");
        xml.push_str(&format!(
            "<url><loc>http://a.test/{}</loc></url>",
            "x".repeat(5000)
        ));
        for i in 0..(MAX_SITEMAP_URLS + 10) {
            xml.push_str(&format!("<url><loc>http://a.test/{i}</loc></url>"));
        }
        xml.push_str("</urlset>");
        let Sitemap::Pages(urls) = parse(xml.as_bytes()).unwrap() else {
            panic!("pages");
        };
        assert_eq!(urls.len(), MAX_SITEMAP_URLS);
        assert_eq!(urls[0], "http://a.test/0");
        assert!(parse(b"<html><body>hi</body></html>").is_err());
        assert_eq!(
            parse(b"<urlset><url><loc>http://a.test/ok</loc></url><url><loc>http://a.test/")
                .unwrap(),
            Sitemap::Pages(vec!["http://a.test/ok".to_string()]),
            "what came before the torn end"
        );
    }
}
