//! The HTTP options real sites need: `-u`, `--netrc`, `--proxy`, `--cacert`, `--http1.1`,
//! `--http2`, `--cookies`, `-b`. Against the mock server, and `openssl s_server` as a real
//! TLS peer.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::{MockServer, eventually, fetchpool, refused_url, run_jsonl, temp_file};
use assert_cmd::prelude::OutputAssertExt;

/// The request head the server got first, lower-cased.
fn first_request(server: &MockServer) -> String {
    server.requests()[0].to_lowercase()
}

#[test]
fn user_sends_basic_auth_to_the_urls_own_host_only() {
    let a = MockServer::start();
    let b = MockServer::start_on("127.0.0.2");
    let url = a.url(&format!("/goto?{}", b.url("/bytes/1")));
    fetchpool().args(["-u", "user:pass", &url]).assert().code(0);
    // base64("user:pass")
    assert!(first_request(&a).contains("authorization: basic dxnlcjpwyxnz"));
    assert!(!first_request(&b).contains("authorization"));
}

#[test]
fn user_without_a_password_reads_it_from_the_environment() {
    let server = MockServer::start();
    fetchpool()
        .args(["-u", "user", &server.url("/bytes/1")])
        .env("FETCHPOOL_PASSWORD", "pass")
        .assert()
        .code(0);
    assert!(first_request(&server).contains("authorization: basic dxnlcjpwyxnz"));
}

#[test]
fn netrc_logins_are_sent_to_the_hosts_they_name() {
    let server = MockServer::start();
    let netrc = temp_file("machine 127.0.0.1 login user password pass\n");
    fetchpool()
        .args(["--netrc", &server.url("/bytes/1")])
        .env("NETRC", netrc.path())
        .assert()
        .code(0);
    assert!(first_request(&server).contains("authorization: basic dxnlcjpwyxnz"));
    fetchpool()
        .args(["--netrc", "http://127.0.0.1:1/"])
        .env("NETRC", "/nonexistent/netrc")
        .assert()
        .code(2);
}

#[test]
fn proxy_overrides_the_environment() {
    let proxy = MockServer::start();
    let target = refused_url();
    fetchpool()
        .args(["--proxy", &proxy.base_url(), &target])
        .env("http_proxy", refused_url())
        .assert()
        .code(1); // the mock proxy answers 404
    assert!(
        first_request(&proxy).starts_with(&format!("get {}", target.to_lowercase())),
        "the proxy got the absolute URL: {}",
        first_request(&proxy)
    );
}

#[test]
fn http1_1_works_and_http2_prior_knowledge_fails_against_an_http1_server() {
    let server = MockServer::start();
    fetchpool()
        .args(["--http1.1", &server.url("/bytes/1")])
        .assert()
        .code(0);
    let records = run_jsonl(
        fetchpool().args(["--http2", "-f", "jsonl", &server.url("/bytes/1")]),
        1,
    );
    assert_eq!(records[&1]["ok"], false);
}

#[test]
fn cookies_set_by_a_server_are_sent_back_for_the_rest_of_the_run() {
    let server = MockServer::start();
    let list = temp_file(format!(
        "{}\n{}\n",
        server.url("/setcookie"),
        server.url("/bytes/1")
    ));
    fetchpool()
        .arg(list.path())
        .args(["--cookies", "-w", "1"])
        .assert()
        .code(0);
    assert!(
        server.requests()[1]
            .to_lowercase()
            .contains("cookie: session=abc")
    );
}

#[test]
fn cookie_flags_go_to_the_urls_own_host_only() {
    let a = MockServer::start();
    let b = MockServer::start_on("127.0.0.2");
    let url = a.url(&format!("/goto?{}", b.url("/bytes/1")));
    fetchpool()
        .args(["-b", "a=1", "-b", "b=2", &url])
        .assert()
        .code(0);
    assert!(first_request(&a).contains("cookie: a=1; b=2"));
    assert!(!first_request(&b).contains("cookie"));
}

#[test]
fn unusable_http_option_values_are_usage_errors() {
    for args in [
        &["-b", "no-equals"][..],
        &["-b", "a=b;c"][..],
        &["--proxy", "ftp://p:1"][..],
        &["--cacert", "/nonexistent.pem"][..],
    ] {
        fetchpool()
            .args(args)
            .arg("http://127.0.0.1:1/")
            .assert()
            .code(2);
    }
    let not_pem = temp_file("not a certificate");
    fetchpool()
        .arg("--cacert")
        .arg(not_pem.path())
        .arg("http://127.0.0.1:1/")
        .assert()
        .code(2);
}

/// `openssl s_server -www` on 127.0.0.1 with a fresh self-signed certificate; killed on drop.
struct TlsServer {
    child: Child,
    port: u16,
    cert: tempfile::TempDir,
}

impl TlsServer {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // An end-entity certificate (openssl's default one is a CA, which TLS refuses as a
        // server's own).
        std::fs::write(
            dir.path().join("openssl.cnf"),
            "[req]\ndistinguished_name=dn\nx509_extensions=ext\nprompt=no\n\
             [dn]\nCN=127.0.0.1\n\
             [ext]\nbasicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n",
        )
        .unwrap();
        let status = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .arg("-config")
            .arg(dir.path().join("openssl.cnf"))
            .arg("-keyout")
            .arg(dir.path().join("key.pem"))
            .arg("-out")
            .arg(dir.path().join("cert.pem"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl is installed (.ci/run installs it)");
        assert!(status.success());
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = Command::new("openssl")
            .args(["s_server", "-www", "-quiet", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(dir.path().join("cert.pem"))
            .arg("-key")
            .arg(dir.path().join("key.pem"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        eventually("openssl s_server listens", || {
            std::net::TcpStream::connect_timeout(
                &format!("127.0.0.1:{port}").parse().unwrap(),
                Duration::from_millis(100),
            )
            .is_ok()
        });
        TlsServer {
            child,
            port,
            cert: dir,
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn cacert_trusts_a_self_signed_server_that_is_refused_without_it() {
    let server = TlsServer::start();
    let url = format!("https://127.0.0.1:{}/", server.port);
    let records = run_jsonl(fetchpool().args(["-f", "jsonl", &url]), 1);
    let record = &records[&1];
    assert_eq!(record["error_kind"], "tls", "{record}");
    assert!(
        record["error"]
            .as_str()
            .unwrap()
            .contains("not signed by a trusted authority"),
        "{record}"
    );
    fetchpool()
        .arg("--cacert")
        .arg(server.cert.path().join("cert.pem"))
        .arg(&url)
        .assert()
        .code(0);
}

#[test]
fn cookie_flags_and_the_jar_share_one_cookie_header() {
    let server = MockServer::start();
    let list = temp_file(format!(
        "{}\n{}\n",
        server.url("/setcookie"),
        server.url("/bytes/1")
    ));
    fetchpool()
        .arg(list.path())
        .args(["--cookies", "-b", "a=1", "-w", "1"])
        .assert()
        .code(0);
    let second = server.requests()[1].to_lowercase();
    assert_eq!(second.matches("cookie:").count(), 1, "{second}");
    assert!(second.contains("cookie: a=1; session=abc"), "{second}");
}
