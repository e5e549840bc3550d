//! SURT keys for the CDXJ index: the URL key pywb sorts and looks up by, computed as the
//! Python `surt` package computes it (the archive-commons rules cdxj-indexer uses): the
//! URL unescaped and escaped once, dot segments resolved, host lower-cased without a
//! leading `www`/`wwwN` and its labels reversed (`com,example)`), the default port
//! dropped, path and query lower-cased, session ids dropped, the query's arguments
//! sorted, the fragment and a trailing slash dropped.

use std::sync::LazyLock;

use regex::bytes::Regex;

/// The SURT key of `url`.
pub(crate) fn surt(url: &str) -> String {
    let Some(mut parts) = split(url) else {
        return "-".to_string();
    };
    google_canonicalize(&mut parts);
    ia_canonicalize(&mut parts);
    let mut out = Vec::with_capacity(url.len());
    if let Some(host) = &parts.host {
        let mut labels: Vec<&[u8]> = host.split(|&b| b == b'.').collect();
        labels.reverse();
        out.extend_from_slice(&labels.join(&b","[..]));
        if let Some(port) = parts.port {
            out.extend_from_slice(format!(":{port}").as_bytes());
        }
        out.push(b')');
    }
    match &parts.path {
        Some(path) if !path.is_empty() => out.extend_from_slice(path),
        _ if parts.query.is_some() => out.push(b'/'),
        _ => {}
    }
    if let Some(query) = &parts.query {
        out.push(b'?');
        out.extend_from_slice(query);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A URL in the parts the rules work on (bytes, as the Python code holds them).
struct Parts {
    scheme: Vec<u8>,
    host: Option<Vec<u8>>,
    port: Option<u16>,
    path: Option<Vec<u8>>,
    query: Option<Vec<u8>>,
}

/// `handyurl.parse`: an RFC 2396 split, `http://` added when there is no scheme.
fn split(url: &str) -> Option<Parts> {
    static SCHEME: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[a-zA-Z][a-zA-Z0-9+\-.]*:").expect("a valid regex"));
    static PROTOCOLS: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^(https?://)+").expect("a valid regex"));
    static RFC2396: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(([a-zA-Z][a-zA-Z0-9+.-]*):)?((//([^/?#]*))?([^?#]*)(\?([^#]*))?)?(#(.*))?$")
            .expect("a valid regex")
    });
    let mut bytes: Vec<u8> = url
        .trim()
        .bytes()
        .filter(|b| !matches!(b, b'\n' | b'\r' | b'\t'))
        .collect();
    if bytes.is_empty() {
        return None;
    }
    if !SCHEME.is_match(&bytes) {
        bytes.splice(0..0, b"http://".iter().copied());
    }
    if let Some(m) = PROTOCOLS.captures(&bytes).and_then(|c| c.get(1)) {
        let (once, all) = (m.len(), PROTOCOLS.find(&bytes).map_or(0, |f| f.end()));
        let keep = bytes[all - once..].to_vec();
        bytes = keep;
    }
    let caps = RFC2396.captures(&bytes)?;
    let group = |i| caps.get(i).map(|m| m.as_bytes().to_vec());
    let scheme = group(2).unwrap_or_default();
    let mut netloc = group(5).unwrap_or_default();
    while netloc.last() == Some(&b':') {
        netloc.pop();
    }
    let mut path = group(6).filter(|p| !p.is_empty());
    let query = group(8).filter(|q| !q.is_empty());
    // Python's SplitResult: the host after any login, lower case, without brackets or port.
    let host_port = match netloc.iter().rposition(|&b| b == b'@') {
        Some(at) => netloc[at + 1..].to_vec(),
        None => netloc,
    };
    let (mut host, port) = if host_port.first() == Some(&b'[') {
        match host_port.iter().position(|&b| b == b']') {
            Some(end) => {
                let port = host_port[end + 1..]
                    .strip_prefix(b":")
                    .and_then(|p| std::str::from_utf8(p).ok()?.parse().ok());
                (host_port[1..end].to_vec(), port)
            }
            None => (host_port, None),
        }
    } else {
        match host_port.iter().rposition(|&b| b == b':') {
            Some(colon) => {
                let port = std::str::from_utf8(&host_port[colon + 1..])
                    .ok()
                    .and_then(|p| p.parse().ok());
                (host_port[..colon].to_vec(), port)
            }
            None => (host_port, None),
        }
    };
    host.make_ascii_lowercase();
    let mut host = (!host.is_empty()).then_some(host);
    if scheme.starts_with(b"http")
        && host.is_none()
        && let Some(p) = path.take()
    {
        let start = p.iter().position(|&b| b != b'/').unwrap_or(p.len());
        let trimmed = &p[start..];
        let (first, rest) = match trimmed.iter().position(|&b| b == b'/') {
            Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
            None => (trimmed, &[][..]),
        };
        host = Some(first.to_vec());
        let mut new_path = b"/".to_vec();
        new_path.extend_from_slice(rest);
        path = Some(new_path);
    }
    Some(Parts {
        scheme,
        host,
        port: port.filter(|&p| p != 0),
        path,
        query,
    })
}

/// `GoogleURLCanonicalizer.canonicalize`.
fn google_canonicalize(parts: &mut Parts) {
    if let Some(query) = parts.query.take() {
        parts.query = Some(escape_once(&unescape_repeatedly(&query)));
    }
    if let Some(host) = parts.host.take() {
        let mut host = unescape_repeatedly(&host);
        while let Some(at) = host.windows(2).position(|w| w == b"..") {
            host.remove(at);
        }
        let start = host.iter().position(|&b| b != b'.').unwrap_or(host.len());
        let end = host
            .iter()
            .rposition(|&b| b != b'.')
            .map_or(start, |e| e + 1);
        let host = host[start..end.max(start)].to_vec();
        parts.host = Some(match ip_of_digits(&host) {
            Some(ip) => ip.into_bytes(),
            None => escape_once(&host.to_ascii_lowercase()),
        });
    }
    let path = unescape_repeatedly(parts.path.as_deref().unwrap_or(b""));
    let path = if parts.host.is_some() {
        normalize_path(&path)
    } else {
        path
    };
    parts.path = Some(escape_once(&path));
}

/// `IAURLCanonicalizer.canonicalize` with its defaults.
fn ia_canonicalize(parts: &mut Parts) {
    static WWW: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^www\d*\.").expect("a valid regex"));
    if let Some(host) = parts.host.as_mut() {
        host.make_ascii_lowercase();
        if let Some(m) = WWW.find(host) {
            host.drain(..m.end());
        }
    }
    let default_port = match parts.scheme.to_ascii_lowercase().as_slice() {
        b"http" => Some(80),
        b"https" => Some(443),
        _ => None,
    };
    if parts.port.is_some() && parts.port == default_port {
        parts.port = None;
    }
    if let Some(path) = parts.path.as_mut() {
        path.make_ascii_lowercase();
        *path = strip_path_session_id(path);
        if path.len() > 1 && path.last() == Some(&b'/') {
            path.pop();
        }
    }
    if let Some(query) = parts.query.take() {
        let mut query = strip_query_session_id(&query);
        query.make_ascii_lowercase();
        let query = alpha_reorder(&query);
        parts.query = (!query.is_empty()).then_some(query);
    }
}

/// A host of digits only: the IPv4 address its low 32 bits make (as `inet_ntoa`).
fn ip_of_digits(host: &[u8]) -> Option<String> {
    if host.is_empty() || !host.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u128 = std::str::from_utf8(host).ok()?.parse().ok()?;
    let ip = std::net::Ipv4Addr::from((n & 0xffff_ffff) as u32);
    Some(ip.to_string())
}

/// `normalizePath`: `.` and `..` segments resolved, empty segments dropped, a trailing
/// slash kept.
fn normalize_path(path: &[u8]) -> Vec<u8> {
    if path.is_empty() {
        return b"/".to_vec();
    }
    let mut kept: Vec<&[u8]> = Vec::new();
    for segment in path.split(|&b| b == b'/').skip(1) {
        match segment {
            b"." => {}
            b".." => {
                if kept.pop().is_none() {
                    kept.push(segment);
                }
            }
            _ => kept.push(segment),
        }
    }
    let mut out = b"/".to_vec();
    if let Some((last, before)) = kept.split_last() {
        for segment in before {
            if !segment.is_empty() {
                out.extend_from_slice(segment);
                out.push(b'/');
            }
        }
        out.extend_from_slice(last);
    }
    out
}

/// `unquote_to_bytes` until nothing changes.
fn unescape_repeatedly(input: &[u8]) -> Vec<u8> {
    let mut current = input.to_vec();
    loop {
        let next = unquote(&current);
        if next == current {
            return current;
        }
        current = next;
    }
}

/// `%XX` (hex) to its byte; anything else as it is.
fn unquote(input: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%'
            && let (Some(h), Some(l)) = (
                input.get(i + 1).copied().and_then(hex),
                input.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    out
}

/// `quote_from_bytes` with the safe set the rules give: letters, digits, `_.-~` and
/// ``!"$&'()*+,-./:;<=>?@[\]^_`{|}~`` as they are, every other byte `%XX`.
fn escape_once(input: &[u8]) -> Vec<u8> {
    const SAFE: &[u8] = b"!\"$&'()*+,-./:;<=>?@[\\]^_`{|}~";
    let mut out = Vec::with_capacity(input.len());
    for &b in input {
        if b.is_ascii_alphanumeric() || SAFE.contains(&b) {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out
}

fn strip_path_session_id(path: &[u8]) -> Vec<u8> {
    static PATTERNS: LazyLock<[Regex; 2]> = LazyLock::new(|| {
        [
            Regex::new(r"(?i)^(.*/)(\((?:[a-z]\([0-9a-z]{24}\))+\)/)([^\?]+\.aspx.*)$"),
            Regex::new(r"(?i)^(.*/)(\([0-9a-z]{24}\)/)([^\?]+\.aspx.*)$"),
        ]
        .map(|r| r.expect("a valid regex"))
    });
    let mut path = path.to_vec();
    for pattern in PATTERNS.iter() {
        if let Some(c) = pattern.captures(&path) {
            let mut stripped = c[1].to_vec();
            stripped.extend_from_slice(&c[3]);
            path = stripped;
        }
    }
    path
}

fn strip_query_session_id(query: &[u8]) -> Vec<u8> {
    static PATTERNS: LazyLock<[Regex; 5]> = LazyLock::new(|| {
        [
            r"(?i)^(.*)(?:jsessionid=[0-9a-zA-Z]{32})(?:&(.*))?$",
            r"(?i)^(.*)(?:phpsessid=[0-9a-zA-Z]{32})(?:&(.*))?$",
            r"(?i)^(.*)(?:sid=[0-9a-zA-Z]{32})(?:&(.*))?$",
            r"(?i)^(.*)(?:ASPSESSIONID[a-zA-Z]{8}=[a-zA-Z]{24})(?:&(.*))?$",
            r"(?i)^(.*)(?:cfid=[^&]+&cftoken=[^&]+)(?:&(.*))?$",
        ]
        .map(|r| Regex::new(r).expect("a valid regex"))
    });
    let mut query = query.to_vec();
    for pattern in PATTERNS.iter() {
        if let Some(c) = pattern.captures(&query) {
            let mut stripped = c[1].to_vec();
            if let Some(rest) = c.get(2).filter(|m| !m.is_empty()) {
                stripped.extend_from_slice(rest.as_bytes());
            }
            query = stripped;
        }
    }
    query
}

/// The query's `&`-separated arguments sorted (by name, then value), as the rules do.
fn alpha_reorder(query: &[u8]) -> Vec<u8> {
    if query.len() <= 1 {
        return query.to_vec();
    }
    let mut args: Vec<(&[u8], Option<&[u8]>)> = query
        .split(|&b| b == b'&')
        .map(|arg| match arg.iter().position(|&b| b == b'=') {
            Some(eq) => (&arg[..eq], Some(&arg[eq + 1..])),
            None => (arg, None),
        })
        .collect();
    args.sort();
    let mut out = Vec::with_capacity(query.len());
    for (i, (name, value)) in args.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(name);
        if let Some(value) = value {
            out.push(b'=');
            out.extend_from_slice(value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::surt;

    #[test]
    fn keys_are_those_of_the_python_surt_package() {
        // Each pair computed by `surt.surt(url)` (surt 0.3.1, as cdxj-indexer 1.5 uses it).
        for (url, key) in [
            (
                "http://127.0.0.1:40087/page/small.html",
                "1,0,0,127:40087)/page/small.html",
            ),
            (
                "http://www.Example.COM/A/B/?b=2&a=1#x",
                "com,example)/a/b?a=1&b=2",
            ),
            ("https://example.com:443/", "com,example)/"),
            ("http://example.com:80/x/../y/./z//w/", "com,example)/y/z/w"),
            (
                "http://example.com/%7Euser/%2541?Q=%20x",
                "com,example)/~user/a?q=%20x",
            ),
            (
                "http://sub.example.co.uk/path?jsessionid=0123456789abcdef0123456789abcdef&x=1",
                "uk,co,example,sub)/path?x=1",
            ),
            ("http://example.com", "com,example)/"),
            ("http://example.com/?", "com,example)/"),
            ("http://www2.example.com/a%2fb", "com,example)/a/b"),
            ("http://[::1]:8080/a", "::1:8080)/a"),
            ("http://example.com/caf%C3%A9", "com,example)/caf%c3%a9"),
            ("http://example.com/a b", "com,example)/a%20b"),
        ] {
            assert_eq!(surt(url), key, "{url}");
        }
    }
}
