//! Which proxy a URL goes through, from the environment: `http_proxy`, `https_proxy`,
//! `all_proxy` and `no_proxy` (upper or lower case), as reqwest reads them, decided here so
//! that a failing proxy can be named in the error and `NO_PROXY=*` covers every host.
//!
//! reqwest (through hyper-util 0.1.21) matches `*` only against host names, so with
//! `NO_PROXY=*` a URL whose host is an IP address (`http://127.0.0.1/`) still went through
//! the proxy. Here `*` means every host, as in curl.

use std::net::IpAddr;

use ipnet::IpNet;
use url::Url;

/// The proxy settings of the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ProxyRules {
    /// For `http://` URLs (`http_proxy`, else `all_proxy`).
    http: Option<Url>,
    /// For `https://` URLs (`https_proxy`, else `all_proxy`).
    https: Option<Url>,
    /// Hosts that go direct.
    no_proxy: NoProxy,
}

impl ProxyRules {
    /// Reads the environment. Like reqwest: upper case first, then lower case; a value
    /// without a scheme means `http://`; under CGI (`REQUEST_METHOD` set) no proxy is
    /// taken from the environment at all (httpoxy).
    pub(crate) fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with the variables looked up by `get`.
    pub(crate) fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        if get("REQUEST_METHOD").is_some() {
            return ProxyRules::default();
        }
        let first = |names: [&str; 2]| names.iter().find_map(|n| get(n));
        let all = first(["ALL_PROXY", "all_proxy"]).and_then(|v| parse_proxy(&v));
        ProxyRules {
            http: first(["HTTP_PROXY", "http_proxy"])
                .and_then(|v| parse_proxy(&v))
                .or_else(|| all.clone()),
            https: first(["HTTPS_PROXY", "https_proxy"])
                .and_then(|v| parse_proxy(&v))
                .or(all),
            no_proxy: NoProxy::parse(&first(["NO_PROXY", "no_proxy"]).unwrap_or_default()),
        }
    }

    /// `--proxy URL`: that proxy for every http and https URL, whatever the environment
    /// says, except the hosts `no_proxy` lists.
    pub(crate) fn fixed(proxy: Url) -> Self {
        let no = std::env::var("NO_PROXY")
            .or_else(|_| std::env::var("no_proxy"))
            .unwrap_or_default();
        ProxyRules {
            http: Some(proxy.clone()),
            https: Some(proxy),
            no_proxy: NoProxy::parse(&no),
        }
    }

    /// Whether any proxy is configured.
    pub(crate) fn is_empty(&self) -> bool {
        self.http.is_none() && self.https.is_none()
    }

    /// The proxy `url` goes through, if any.
    pub(crate) fn for_url(&self, url: &Url) -> Option<&Url> {
        let proxy = match url.scheme() {
            "http" => self.http.as_ref(),
            "https" => self.https.as_ref(),
            _ => None,
        }?;
        let host = url.host_str()?;
        (!self.no_proxy.contains(host)).then_some(proxy)
    }
}

/// A proxy value: a URL, or `host:port` meaning `http://host:port`.
fn parse_proxy(value: &str) -> Option<Url> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    let with_scheme = if value.contains("://") {
        value.to_string()
    } else {
        format!("http://{value}")
    };
    Url::parse(&with_scheme).ok()
}

/// The `no_proxy` list: `*`, IP addresses, CIDR networks and domain names (a name also
/// covers its subdomains; a leading `.` or `*.` is allowed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct NoProxy {
    /// `*` was listed: nothing goes through a proxy.
    everything: bool,
    /// Addresses and networks.
    networks: Vec<IpNet>,
    /// Domain names, lower case, without a leading dot.
    domains: Vec<String>,
}

impl NoProxy {
    fn parse(list: &str) -> Self {
        let mut no = NoProxy::default();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry == "*" {
                no.everything = true;
            } else if let Some(network) = parse_network(entry) {
                no.networks.push(network);
            } else {
                let domain = entry.trim_start_matches("*.").trim_start_matches('.');
                no.domains.push(domain.to_ascii_lowercase());
            }
        }
        no
    }

    /// Whether `host` (a name, or an IP address, IPv6 in brackets or not) goes direct.
    fn contains(&self, host: &str) -> bool {
        if self.everything {
            return true;
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return self.networks.iter().any(|net| net.contains(&ip));
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.domains.iter().any(|d| {
            host == *d
                || host
                    .strip_suffix(d.as_str())
                    .is_some_and(|prefix| prefix.ends_with('.'))
        })
    }
}

/// `10.0.0.0/8`, `::1`, `[::1]`, `192.168.1.7` as a network; `None` if the entry is not one.
fn parse_network(entry: &str) -> Option<IpNet> {
    let (addr, bits) = match entry.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (entry, None),
    };
    let ip: IpAddr = addr
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    match bits {
        Some(bits) => IpNet::new(ip, bits.parse().ok()?).ok(),
        None => Some(IpNet::from(ip)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(vars: &[(&str, &str)]) -> ProxyRules {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ProxyRules::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    fn proxied(r: &ProxyRules, url: &str) -> Option<String> {
        r.for_url(&Url::parse(url).unwrap()).map(Url::to_string)
    }

    #[test]
    fn the_proxy_is_chosen_by_scheme_with_all_proxy_as_the_fallback() {
        let r = rules(&[("http_proxy", "proxy:3128"), ("ALL_PROXY", "http://all:1")]);
        assert_eq!(
            proxied(&r, "http://a.example/").as_deref(),
            Some("http://proxy:3128/")
        );
        assert_eq!(
            proxied(&r, "https://a.example/").as_deref(),
            Some("http://all:1/")
        );
    }

    #[test]
    fn no_proxy_star_covers_ip_addresses_too() {
        let r = rules(&[("http_proxy", "http://p:1"), ("NO_PROXY", "*")]);
        assert_eq!(proxied(&r, "http://127.0.0.1:8080/"), None);
        assert_eq!(proxied(&r, "http://[::1]/"), None);
        assert_eq!(proxied(&r, "http://example.com/"), None);
    }

    #[test]
    fn no_proxy_matches_domains_with_their_subdomains_addresses_and_networks() {
        let r = rules(&[
            ("http_proxy", "http://p:1"),
            (
                "no_proxy",
                "example.com, .internal, 10.0.0.0/8, ::1, 192.168.1.7",
            ),
        ]);
        for direct in [
            "http://example.com/",
            "http://WWW.Example.COM/",
            "http://a.internal/",
            "http://10.1.2.3/",
            "http://[::1]/",
            "http://192.168.1.7/",
        ] {
            assert_eq!(proxied(&r, direct), None, "{direct}");
        }
        for via in [
            "http://notexample.com/",
            "http://11.0.0.1/",
            "http://192.168.1.8/",
        ] {
            assert!(proxied(&r, via).is_some(), "{via}");
        }
    }

    #[test]
    fn under_cgi_the_environment_names_no_proxy() {
        let r = rules(&[("http_proxy", "http://p:1"), ("REQUEST_METHOD", "GET")]);
        assert!(r.is_empty());
    }
}
