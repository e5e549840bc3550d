//! A site spread over [`HOSTS`] loopback hosts (127.0.0.2, 127.0.0.3, ..., one port), for
//! the distributed crawls of `--handoff`: each host serves `/mesh/0.html` ..
//! `/mesh/{PAGES-1}.html`, every page links to pages of its own host and of others, and
//! some link to `/mesh/go/H/N`, a redirect to page N of host H, or to a missing page. [`links`] is the graph as
//! the crawl should see it, and [`reachable`] what a crawl from given seeds reaches.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

use super::MockServer;

/// Hosts of the mesh.
pub const HOSTS: usize = 6;

/// Pages per host.
pub const PAGES: usize = 25;

/// The mesh's servers, one per host, all on one port.
pub struct Mesh {
    pub servers: Vec<MockServer>,
    pub port: u16,
}

impl Mesh {
    /// Starts a server on each host, on a port free on all of them (bounded tries).
    pub fn start() -> Self {
        for _ in 0..50 {
            let first = MockServer::start_on(&host_ip(0));
            let port = first.port();
            let mut servers = vec![first];
            for h in 1..HOSTS {
                match MockServer::start_at(&host_ip(h), port) {
                    Ok(server) => servers.push(server),
                    Err(_) => break,
                }
            }
            if servers.len() == HOSTS {
                for server in &mut servers {
                    server.hits_or_not();
                }
                return Mesh { servers, port };
            }
            for server in &mut servers {
                server.hits_or_not();
            }
        }
        panic!("no port free on all the mesh's hosts");
    }

    /// Page `n` of host `h`.
    pub fn page(&self, h: usize, n: usize) -> String {
        page(h, n, self.port)
    }

    /// How many times each URL was requested, over every host (robots.txt aside).
    pub fn requests(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for server in &self.servers {
            for (_, path) in server.log() {
                if path != "/robots.txt" {
                    *out.entry(server.url(&path)).or_default() += 1;
                }
            }
        }
        out
    }
}

/// The address of host `h`.
pub fn host_ip(h: usize) -> String {
    format!("127.0.0.{}", h + 2)
}

fn page(h: usize, n: usize, port: u16) -> String {
    format!("http://{}:{port}/mesh/{}.html", host_ip(h), n % PAGES)
}

fn redirect(h: usize, to_host: usize, to_page: usize, port: u16) -> String {
    format!(
        "http://{}:{port}/mesh/go/{}/{}",
        host_ip(h),
        to_host % HOSTS,
        to_page % PAGES
    )
}

/// Every link of page `n` of host `h`, absolute, in document order. From the first page
/// of every host, every page is at most 4 links away; from the first page of host 0, 5.
pub fn links(h: usize, n: usize, port: u16) -> Vec<String> {
    // Few of a host's pages are reached from its first page by its own links: most are
    // found through other hosts' pages (so, in a sharded crawl, through handoffs).
    let mut out = vec![
        page(h, n * n + 1, port),
        page((h + 1) % HOSTS, 5 * n + 1, port),
        page((3 * h + n) % HOSTS, n + 7, port),
        page((h + 2) % HOSTS, n + 3, port),
    ];
    if n.is_multiple_of(6) {
        out.push(redirect(h, h + n + 2, 3 * n + 2, port));
    }
    // A broken link (404): a failed page must not be fetched again in a later round.
    if n % 10 == 5 {
        out.push(format!(
            "http://{}:{port}/mesh/missing-{n}.html",
            host_ip(h)
        ));
    }
    out
}

/// Where a URL of the mesh redirects, if it is a redirect.
pub fn target(url: &str, port: u16) -> Option<String> {
    let rest = url.split("/mesh/go/").nth(1)?;
    let (h, n) = rest.split_once('/')?;
    Some(page(h.parse().ok()?, n.parse().ok()?, port))
}

/// Host and page of a page URL of the mesh.
fn parse(url: &str) -> Option<(usize, usize)> {
    let host = url.strip_prefix("http://127.0.0.")?;
    let (octet, rest) = host.split_once(':')?;
    let n = rest.split_once("/mesh/")?.1.strip_suffix(".html")?;
    Some((octet.parse::<usize>().ok()? - 2, n.parse().ok()?))
}

/// Every URL a crawl from `seeds` (at depth 0) reaches within `depth`, with its depth
/// (a redirect's target at the redirect's depth), breadth first.
pub fn reachable(seeds: &[String], depth: u32, port: u16) -> BTreeMap<String, u32> {
    let mut found = BTreeMap::new();
    let mut queue = VecDeque::new();
    for seed in seeds {
        if found.insert(seed.clone(), 0).is_none() {
            queue.push_back((seed.clone(), 0));
        }
    }
    while let Some((url, d)) = queue.pop_front() {
        if let Some(to) = target(&url, port) {
            if !found.contains_key(&to) {
                found.insert(to.clone(), d);
                queue.push_front((to, d));
            }
            continue;
        }
        if d == depth {
            continue;
        }
        let Some((h, n)) = parse(&url) else { continue };
        for link in links(h, n, port) {
            if !found.contains_key(&link) {
                found.insert(link.clone(), d + 1);
                queue.push_back((link, d + 1));
            }
        }
    }
    found
}

/// The answer to `path` on the host at `addr`: status, extra headers, body.
pub fn answer(path: &str, addr: SocketAddr) -> (u16, String, Vec<u8>) {
    let ip = addr.ip().to_string();
    let Some(h) = ip
        .strip_prefix("127.0.0.")
        .and_then(|o| o.parse::<usize>().ok())
        .and_then(|o| o.checked_sub(2))
        .filter(|&h| h < HOSTS)
    else {
        return (404, String::new(), b"not a mesh host".to_vec());
    };
    let port = addr.port();
    let rest = path.strip_prefix("/mesh/").unwrap_or("");
    if let Some(to) = rest.strip_prefix("go/") {
        let url = format!("http://{ip}:{port}/mesh/go/{to}");
        return match target(&url, port) {
            Some(location) => (302, format!("Location: {location}\r\n"), Vec::new()),
            None => (404, String::new(), b"no such redirect".to_vec()),
        };
    }
    let Some(n) = rest
        .strip_suffix(".html")
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|&n| n < PAGES)
    else {
        return (404, String::new(), b"not found".to_vec());
    };
    let mut html = String::from("<!doctype html><html><body>\n");
    for link in links(h, n, port) {
        html.push_str(&format!("<a href=\"{link}\">a link</a>\n"));
    }
    html.push_str("</body></html>\n");
    (
        200,
        "Content-Type: text/html; charset=utf-8\r\n".to_string(),
        html.into_bytes(),
    )
}
